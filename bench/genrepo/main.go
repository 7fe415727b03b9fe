// Command genrepo writes a `git fast-import` stream for a large synthetic repository with a
// planted leaked key, for bench/git.sh (which caches the repository it builds). It owns nothing the product uses: the benchmark needs a
// history shaped like a real repository (branches merged back, tags, a few binaries) in which
// about 1% of blob versions contain the key. -shape app (the default) is an application
// repository: many small text files in 40 directories. -shape c is a long-lived C project:
// nested source directories of .c/.h files plus a few large files (thousands of lines, edited by
// about one commit in eight) whose many versions make the deep delta chains that
// `git repack --depth=250` builds on real projects.
//
//	genrepo -commits 20000 -secret-out key.txt | git fast-import --quiet
//	genrepo -shape c -commits 100000 -secret-out key.txt | git fast-import --quiet
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/respond-sec/respond/internal/fakekey"
)

type file struct {
	path   string
	lines  []string
	binary bool
}

type gen struct {
	w       *bufio.Writer
	r       *rand.Rand
	secret  string
	pct     float64
	mark    int
	now     int64
	files   []*file
	last    map[*file]int // mark of each file's latest blob
	commits int

	secretBlobs, blobs int

	c     bool    // the C-project shape
	large []*file // c: the large files, touched more often than the rest
}

func main() {
	commits := flag.Int("commits", 20000, "number of commits to generate")
	dirs := flag.Int("dirs", 40, "number of directories")
	perDir := flag.Int("files", 25, "text files per directory")
	pct := flag.Float64("pct", 1, "percentage of new blob versions that contain the key")
	seed := flag.Uint64("seed", 1, "random seed")
	secretOut := flag.String("secret-out", "", "file to write the planted key to (required)")
	shape := flag.String("shape", "app", "app or c")
	flag.Parse()
	if *shape != "app" && *shape != "c" {
		fmt.Fprintln(os.Stderr, "genrepo: -shape must be app or c")
		os.Exit(2)
	}
	if *secretOut == "" {
		fmt.Fprintln(os.Stderr, "genrepo: -secret-out is required")
		os.Exit(2)
	}
	secret := fakekey.New(*seed).OpenAIProjectKey()
	if err := os.WriteFile(*secretOut, []byte(secret+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "genrepo:", err)
		os.Exit(1)
	}
	g := &gen{
		w:      bufio.NewWriterSize(os.Stdout, 1<<20),
		r:      rand.New(rand.NewPCG(*seed, 7)),
		secret: secret,
		pct:    *pct / 100,
		now:    1577836800, // 2020-01-01
		last:   map[*file]int{},
		c:      *shape == "c",
	}
	if g.c {
		g.cFiles()
	} else {
		g.appFiles(*dirs, *perDir)
	}
	g.run(*commits)
	if err := g.w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "genrepo:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genrepo: %d commits, %d blob versions, %d with the key\n", g.commits, g.blobs, g.secretBlobs)
}

var words = strings.Fields("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi omega request response client server handler config value result error context buffer")

func (g *gen) line() string {
	if g.c {
		return fmt.Sprintf("\t%s = %s_%s(%s, %d); /* %s %s */", words[g.r.IntN(len(words))], words[g.r.IntN(len(words))],
			words[g.r.IntN(len(words))], words[g.r.IntN(len(words))], g.r.IntN(100000), words[g.r.IntN(len(words))], words[g.r.IntN(len(words))])
	}
	return fmt.Sprintf("\t%s := %s(%d, %q) // %s %s", words[g.r.IntN(len(words))], words[g.r.IntN(len(words))],
		g.r.IntN(100000), words[g.r.IntN(len(words))], words[g.r.IntN(len(words))], words[g.r.IntN(len(words))])
}

func (g *gen) secretLine() string {
	if g.c {
		return fmt.Sprintf("\tstatic const char *api_key = %q; /* TODO move to env */", g.secret)
	}
	return fmt.Sprintf("\tapiKey := %q // TODO move to env", g.secret)
}

// content renders f, planting or removing the key so that about pct of versions hold it.
func (g *gen) content(f *file) []byte {
	plant := g.r.Float64() < g.pct
	g.blobs++
	if plant {
		g.secretBlobs++
	}
	if f.binary {
		var b []byte
		for i, l := range f.lines {
			b = append(b, l...)
			b = append(b, 0, byte(i), 0xff)
			if plant && i == len(f.lines)/2 {
				b = append(b, g.secret...)
				b = append(b, 0)
			}
		}
		return b
	}
	var sb strings.Builder
	if g.c {
		sb.WriteString("#include \"" + words[len(f.path)%len(words)] + ".h\"\n\nvoid init(void)\n{\n")
	} else {
		sb.WriteString("package " + words[len(f.path)%len(words)] + "\n\nfunc init() {\n")
	}
	at := -1
	if plant {
		at = g.r.IntN(len(f.lines))
	}
	for i, l := range f.lines {
		if i == at {
			sb.WriteString(g.secretLine() + "\n")
		}
		sb.WriteString(l + "\n")
	}
	sb.WriteString("}\n")
	return []byte(sb.String())
}

func (g *gen) blob(data []byte) int {
	g.mark++
	fmt.Fprintf(g.w, "blob\nmark :%d\ndata %d\n", g.mark, len(data))
	g.w.Write(data)
	g.w.WriteByte('\n')
	return g.mark
}

func (g *gen) ident() string {
	g.now += int64(60 + g.r.IntN(3600))
	n := g.r.IntN(12)
	return fmt.Sprintf("Dev %d <dev%d@example.com> %d +0000", n, n, g.now)
}

// commit writes a commit on ref touching the given files; it returns the commit's mark.
func (g *gen) commit(ref string, from int, merges []int, touched []*file, msg string) int {
	marks := make([]int, len(touched))
	for i, f := range touched {
		marks[i] = g.blob(g.content(f))
		g.last[f] = marks[i]
	}
	return g.commitMarks(ref, from, merges, touched, marks, msg)
}

func (g *gen) commitMarks(ref string, from int, merges []int, touched []*file, marks []int, msg string) int {
	g.mark++
	g.commits++
	id := g.ident()
	fmt.Fprintf(g.w, "commit %s\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s\n", ref, g.mark, id, id, len(msg), msg)
	if from > 0 {
		fmt.Fprintf(g.w, "from :%d\n", from)
	}
	for _, m := range merges {
		fmt.Fprintf(g.w, "merge :%d\n", m)
	}
	for i, f := range touched {
		mode := "100644"
		if f.binary {
			mode = "100755"
		}
		fmt.Fprintf(g.w, "M %s :%d %s\n", mode, marks[i], f.path)
	}
	g.w.WriteByte('\n')
	return g.mark
}

func (g *gen) edit(f *file) {
	for range 1 + g.r.IntN(3) {
		f.lines[g.r.IntN(len(f.lines))] = g.line()
	}
	if g.r.IntN(4) == 0 {
		f.lines = slices.Insert(f.lines, g.r.IntN(len(f.lines)), g.line())
	}
}

func (g *gen) pick(n int) []*file {
	seen := map[int]bool{}
	var out []*file
	if g.c && g.r.IntN(8) == 0 {
		f := g.large[g.r.IntN(len(g.large))]
		seen[slices.Index(g.files, f)] = true
		out = append(out, f)
	}
	for len(out) < n {
		i := g.r.IntN(len(g.files))
		if !seen[i] {
			seen[i] = true
			out = append(out, g.files[i])
		}
	}
	return out
}

func (g *gen) message() string {
	msg := fmt.Sprintf("%s: %s the %s %s\n\nChange %d.", words[g.r.IntN(len(words))], words[g.r.IntN(len(words))],
		words[g.r.IntN(len(words))], words[g.r.IntN(len(words))], g.commits)
	if g.r.IntN(2000) == 0 {
		msg += "\n\nDebug with OPENAI_API_KEY=" + g.secret
	}
	return msg
}

// appFiles lays out the application shape: dirs directories of perDir Go files.
func (g *gen) appFiles(dirs, perDir int) {
	for d := range dirs {
		for i := range perDir {
			f := &file{path: fmt.Sprintf("pkg/d%02d/file%02d.go", d, i)}
			for range 80 + g.r.IntN(80) {
				f.lines = append(f.lines, g.line())
			}
			g.files = append(g.files, f)
		}
	}
	g.binaries()
}

// cFiles lays out the C shape: three levels of directories (subsystem/driver/...), 1,200 source
// files of 30-250 lines and 24 large ones of 1,200-3,000 lines (a generated table, a
// register map, the kind of file every long-lived C project has).
func (g *gen) cFiles() {
	for s := range 8 {
		for d := range 10 {
			for i := range 15 {
				ext := ".c"
				if i%4 == 0 {
					ext = ".h"
				}
				f := &file{path: fmt.Sprintf("%s/%s%d/%s_%02d%s", words[s], words[8+d], d, words[18+i%10], i, ext)}
				for range 30 + g.r.IntN(220) {
					f.lines = append(f.lines, g.line())
				}
				g.files = append(g.files, f)
			}
		}
	}
	for i := range 24 {
		f := &file{path: fmt.Sprintf("%s/large/%s_table_%02d.c", words[i%8], words[18+i%10], i)}
		for range 1200 + g.r.IntN(1800) {
			f.lines = append(f.lines, g.line())
		}
		g.files = append(g.files, f)
		g.large = append(g.large, f)
	}
	g.binaries()
}

func (g *gen) binaries() {
	for i := range 20 {
		f := &file{path: fmt.Sprintf("assets/blob%02d.bin", i), binary: true}
		for range 100 {
			f.lines = append(f.lines, g.line())
		}
		g.files = append(g.files, f)
	}
}

func (g *gen) run(total int) {
	head := g.commit("refs/heads/main", 0, nil, g.files, "initial import")
	feature := 0
	for g.commits < total {
		if g.r.IntN(40) == 0 && total-g.commits > 10 {
			// A feature branch of a few commits, with main moving meanwhile, merged back with
			// --no-ff; one in ten is left unmerged.
			feature++
			ref := fmt.Sprintf("refs/heads/feature/%d", feature)
			saved := map[*file]int{}
			branchFiles := g.pick(3)
			var side int
			for i := range 3 + g.r.IntN(3) {
				f := branchFiles[i%len(branchFiles)]
				g.edit(f)
				from := 0
				if i == 0 {
					from = head
				}
				side = g.commit(ref, from, nil, []*file{f}, g.message())
			}
			for _, f := range branchFiles {
				saved[f] = g.last[f]
			}
			if feature%10 == 0 {
				continue
			}
			for range 2 {
				fs := g.pick(2)
				var keep []*file
				for _, f := range fs {
					if _, onBranch := saved[f]; !onBranch {
						g.edit(f)
						keep = append(keep, f)
					}
				}
				if len(keep) > 0 {
					g.commit("refs/heads/main", 0, nil, keep, g.message())
				}
			}
			marks := make([]int, len(branchFiles))
			for i, f := range branchFiles {
				marks[i] = saved[f]
			}
			head = g.commitMarks("refs/heads/main", 0, []int{side}, branchFiles, marks, fmt.Sprintf("Merge branch 'feature/%d'", feature))
			continue
		}
		fs := g.pick(1 + g.r.IntN(3))
		for _, f := range fs {
			g.edit(f)
		}
		head = g.commit("refs/heads/main", 0, nil, fs, g.message())
		switch {
		case g.commits%1000 == 0:
			msg := fmt.Sprintf("Release %d\n", g.commits/1000)
			if g.commits%5000 == 0 {
				msg += "\nstaging key: " + g.secret + "\n"
			}
			id := g.ident()
			fmt.Fprintf(g.w, "tag v%d.0\nfrom :%d\ntagger %s\ndata %d\n%s\n", g.commits/1000, head, id, len(msg), msg)
		case g.commits%500 == 0:
			fmt.Fprintf(g.w, "reset refs/tags/snapshot-%d\nfrom :%d\n\n", g.commits/500, head)
		}
	}
}
