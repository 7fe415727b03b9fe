package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/respond-sec/respond/integrations/gitrepo"
)

// DefaultConcurrency is how many repositories are scanned at once when Options says nothing:
// each scan already reads its packs in parallel, and clones are bound by the network.
const DefaultConcurrency = 4

// Options says what to scan and how.
type Options struct {
	Targets []Target
	Secrets [][]byte
	// SecretID identifies the value (a keyed fingerprint): a progress file recorded for another
	// value is refused instead of skipping repositories that were never searched for this one.
	SecretID string
	// Token authenticates clones over http(s) to TokenHosts only: a list file may name any
	// host, and the GitHub token must not go to one that is not GitHub.
	Token      string
	TokenHosts []string
	// CacheDir holds the bare mirrors of clone URLs, reused and fetched on the next run.
	CacheDir string
	// StateFile is the progress file; empty means the fleet is not resumable.
	StateFile   string
	Concurrency int // repositories at once; DefaultConcurrency when 0
	// Memory is each scan's (the cache is per repository being scanned).
	Memory gitrepo.Memory
	// Progress, when set, hears every start and end of a repository's scan, and how far the
	// scans and clones running have come. Calls are serialized.
	Progress func(Status)
}

// Status is how far a fleet has come.
type Status struct {
	Total, Done, Failed int
	Resumed             int      // of Done: finished by an earlier, interrupted run
	Running             []string // names, in the order they started
	// Phase, Units and Of: the last progress one of the running repositories reported.
	Phase       string
	Units, Of   int64
	PhaseOfRepo string
}

// Result is one repository's outcome.
type Result struct {
	Target  Target              `json:"target"`
	Scan    *gitrepo.ScanResult `json:"scan"`
	Fetched bool                `json:"fetched,omitempty"` // an existing mirror was updated
	Took    time.Duration       `json:"took"`
	// Resumed: taken from the progress file, not scanned by this run.
	Resumed bool `json:"-"`
	// Err is why the repository could not be scanned; failures are not recorded as finished,
	// so the next run tries again.
	Err error `json:"-"`
}

// Report is the fleet's combined outcome, one Result per target in the order given.
type Report struct {
	Results   []Result
	Findings  int
	FirstSeen time.Time // earliest first-seen over every repository
	Failed    int
	Resumed   int
}

// Scan scans every target, Concurrency at a time. A repository that fails is reported in its
// Result and does not stop the others. The error is for what stops the whole fleet: a progress
// file that cannot be read or written, or ctx ending (the report then holds what finished).
func Scan(ctx context.Context, o Options) (*Report, error) {
	if len(o.Secrets) == 0 {
		return nil, errors.New("fleet: no secret given")
	}
	st, err := openState(o.StateFile, o.SecretID)
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, st: st, results: make([]Result, len(o.Targets))}
	r.status.Total = len(o.Targets)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cmpOr(o.Concurrency, DefaultConcurrency))
	for i, t := range o.Targets {
		if prev, ok := st.finished(t); ok {
			prev.Resumed = true
			r.results[i] = prev
			r.update(func(s *Status) { s.Done++; s.Resumed++ })
			continue
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return r.one(gctx, i, t) })
	}
	werr := g.Wait()
	rep := r.report()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	if werr == nil && rep.Failed == 0 {
		werr = st.remove()
	}
	return rep, werr
}

func cmpOr(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}

type runner struct {
	o       Options
	st      *state
	results []Result

	mu     sync.Mutex
	status Status
}

// update changes the status and tells Progress, one call at a time.
func (r *runner) update(change func(*Status)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change(&r.status)
	if r.o.Progress != nil {
		s := r.status
		s.Running = slices.Clone(s.Running)
		r.o.Progress(s)
	}
}

// one scans one target. Its failure is recorded, not returned: only a progress file that cannot
// be written stops the fleet.
func (r *runner) one(ctx context.Context, i int, t Target) error {
	r.update(func(s *Status) { s.Running = append(s.Running, t.Name) })
	start := time.Now()
	res := Result{Target: t}
	res.Scan, res.Fetched, res.Err = r.scan(ctx, t)
	res.Took = time.Since(start).Round(time.Millisecond)
	if res.Err != nil && ctx.Err() != nil {
		res.Err = ctx.Err() // interrupted, not failed: the next run scans it
	}
	r.results[i] = res
	var werr error
	if res.Err == nil {
		werr = r.st.record(res)
	}
	r.update(func(s *Status) {
		s.Running = slices.DeleteFunc(s.Running, func(n string) bool { return n == t.Name })
		if res.Err == nil {
			s.Done++
		} else if ctx.Err() == nil {
			s.Failed++
		}
	})
	return werr
}

func (r *runner) scan(ctx context.Context, t Target) (*gitrepo.ScanResult, bool, error) {
	progress := func(phase string, done, total int64) {
		r.update(func(s *Status) { s.Phase, s.Units, s.Of, s.PhaseOfRepo = phase, done, total, t.Name })
	}
	o := gitrepo.ScanOptions{Path: t.Path, Secrets: r.o.Secrets, Progress: progress, Memory: r.o.Memory,
		Workers: max(1, runtime.GOMAXPROCS(0)/cmpOr(r.o.Concurrency, DefaultConcurrency))}
	var fetched bool
	if t.URL != "" {
		if r.o.CacheDir == "" {
			return nil, false, errors.New("no cache directory for clones")
		}
		o.Path = MirrorDir(r.o.CacheDir, t.URL)
		var err error
		fetched, err = gitrepo.Mirror(ctx, gitrepo.MirrorOptions{URL: t.URL, Token: r.tokenFor(t.URL), Dir: o.Path, Progress: progress})
		if err != nil {
			return nil, fetched, err
		}
	}
	res, err := gitrepo.Scan(ctx, o)
	return res, fetched, err
}

// tokenFor is the token for a clone URL: only over http(s), only to the hosts allowed.
func (r *runner) tokenFor(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	for _, h := range r.o.TokenHosts {
		if strings.EqualFold(u.Host, h) {
			return r.o.Token
		}
	}
	return ""
}

func (r *runner) report() *Report {
	rep := &Report{}
	for _, res := range r.results {
		if res.Target.Name == "" {
			continue // never started: the fleet was interrupted first
		}
		rep.Results = append(rep.Results, res)
		switch {
		case res.Err != nil:
			if !errors.Is(res.Err, context.Canceled) {
				rep.Failed++
			}
			continue
		case res.Resumed:
			rep.Resumed++
		}
		rep.Findings += len(res.Scan.Findings)
		if f := res.Scan.FirstSeen; !f.IsZero() && (rep.FirstSeen.IsZero() || f.Before(rep.FirstSeen)) {
			rep.FirstSeen = f
		}
	}
	return rep
}

// MirrorDir is where the mirror of a clone URL lives in the cache: readable (host and
// repository name) and unique (a digest of the whole URL), whatever the URL holds.
func MirrorDir(cache, rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	host, name := "local", rawURL
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		host, name = u.Host, u.Path
	} else if at := strings.Index(rawURL, "@"); strings.HasPrefix(rawURL, "git@") && at >= 0 {
		host, name, _ = strings.Cut(rawURL[at+1:], ":")
	}
	name = strings.TrimSuffix(filepath.Base(filepath.Clean("/"+name)), ".git")
	return filepath.Join(cache, safe(host), safe(name)+"-"+hex.EncodeToString(sum[:6])+".git")
}

func safe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if strings.Trim(s, ".") == "" {
		return "_"
	}
	return s
}

// Describe says what one result was, in one line, for logs and text reports.
func Describe(res Result) string {
	if res.Err != nil {
		return fmt.Sprintf("%s: FAILED: %v", res.Target.Name, res.Err)
	}
	s := res.Scan
	msg := fmt.Sprintf("%s: %d finding(s) in %d commits across %d refs", res.Target.Name, len(s.Findings), s.Commits, s.Refs)
	if !s.FirstSeen.IsZero() {
		msg += "; first committed " + s.FirstSeen.UTC().Format(time.RFC3339)
	}
	if s.Unreachable > 0 {
		msg += fmt.Sprintf("; %d unreachable object(s) still hold it", s.Unreachable)
	}
	if res.Resumed {
		msg += " (scanned by an earlier run)"
	}
	return msg
}

// TokenHosts are the hosts a GitHub token may be sent to when cloning: github.com, or the web
// host of a GitHub Enterprise API root (https://HOST/api/v3, or https://api.HOST).
func TokenHosts(apiBase string) []string {
	u, err := url.Parse(apiBase)
	if apiBase == "" || err != nil || u.Host == "" || u.Host == "api.github.com" {
		return []string{"github.com"}
	}
	return []string{strings.TrimPrefix(u.Host, "api.")}
}
