package rehearsal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/respond-sec/respond/internal/event"
	"github.com/respond-sec/respond/internal/redact"
)

// Trial is one run in the world: what the world was before it, and the judgement after it.
// Begin it before the run; Verify and LeakCheck after.
type Trial struct {
	w            *World
	scope        Scope
	dryRun       bool
	before       []Snapshot  // a dry run's proof
	openaiBefore OpenAIState // which keys existed, so the checks can tell what the run made
}

// Begin takes the state the run will be judged against.
func (w *World) Begin(scope Scope, dryRun bool) *Trial {
	t := &Trial{w: w, scope: scope, dryRun: dryRun, openaiBefore: w.OpenAIState()}
	if dryRun {
		t.before = w.Snapshots()
	}
	return t
}

// Snapshots are every part's states a dry run must leave untouched, in report order.
func (w *World) Snapshots() []Snapshot {
	var out []Snapshot
	for _, p := range w.parts {
		out = append(out, p.Snapshots()...)
	}
	return out
}

// Verify checks the world after the run: a dry run changed nothing, a real run did what the
// playbook's step kinds promise.
func (t *Trial) Verify(ctx context.Context) []Verification {
	if !t.dryRun {
		return t.w.VerifyFor(ctx, t.openaiBefore, t.scope)
	}
	after := t.w.Snapshots()
	var out []Verification
	for i, b := range t.before {
		same := i < len(after) && after[i].Name == b.Name && bytes.Equal(b.State, after[i].State)
		out = append(out, Verification{Name: "dry run changed nothing: " + b.Name, OK: same,
			Detail: fmt.Sprintf("state identical: %v", same)})
	}
	return out
}

// Unchecked lists the kinds the playbook uses that the world checks nothing of; none for a dry
// run, whose proof covers every kind.
func (t *Trial) Unchecked() []string {
	if t.dryRun {
		return nil
	}
	return t.scope.Unchecked()
}

// Output is something the run printed or wrote, scanned for the keys by name.
type Output struct {
	Name string
	Text string
}

// LeakCheck scans every output for the leaked key and the new one, and returns the check and the
// number of occurrences. unread names outputs that could not be read: what cannot be read is
// not counted as clean, it fails the check.
func (t *Trial) LeakCheck(evs []event.Event, outputs []Output, unread []string) (Verification, int) {
	keys, unreadKey := leakKeys(t.w.leaked, t.w.SecretFile(), evs)
	unread = append(unreadKey, unread...)
	var names []string
	n := 0
	for _, o := range outputs {
		names = append(names, o.Name)
		n += CountLeaks(o.Text, keys...)
	}
	detail := fmt.Sprintf("%d occurrence(s) in %s", n, strings.Join(names, ", "))
	if len(unread) > 0 {
		detail = "could not check: cannot read " + strings.Join(unread, ", ") + "; " + detail
	}
	return Verification{Name: "no key in any output", OK: n == 0 && len(unread) == 0, Detail: detail}, n
}

// leakKeys returns the keys the leak check looks for (the leaked one, and the new one from the
// file it was delivered to) and what could not be read. A missing file is only fine when no
// delivery was ever intended: otherwise the new key exists and could not be looked for.
func leakKeys(leaked, deliveredFile string, evs []event.Event) (keys, unread []string) {
	keys = []string{leaked}
	switch b, err := os.ReadFile(deliveredFile); {
	case err == nil:
		keys = append(keys, strings.TrimSpace(string(b)))
	case errors.Is(err, fs.ErrNotExist) && !deliveryIntended(evs):
		// No new key was made: there is none to look for.
	default:
		unread = append(unread, fmt.Sprintf("the new key (%v)", err))
	}
	return keys, unread
}

// deliveryIntended reports whether the run journaled the intent to deliver a new key: then the
// delivered file must be there to be checked for leaks.
func deliveryIntended(evs []event.Event) bool {
	for _, e := range evs {
		if e.Kind == event.StepIntent && e.Message == "deliver" {
			return true
		}
	}
	return false
}

// CountLeaks counts the places in text where a 16-character piece of a secret's body appears
// (a key cut anywhere still counts), plus every encoded form of a secret (JSON-escaped,
// URL-encoded, hex, base64...) that is not the value itself.
func CountLeaks(text string, secrets ...string) int {
	n := 0
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range redact.Forms(s) {
			if form != s {
				n += strings.Count(text, form)
			}
		}
		body := s[strings.LastIndexAny(s[:min(len(s), 12)], "-_")+1:]
		if len(body) < 16 {
			n += strings.Count(text, s)
			continue
		}
		hits := map[int]bool{}
		for i := 0; i+16 <= len(body); i++ {
			for off := 0; ; {
				j := strings.Index(text[off:], body[i:i+16])
				if j < 0 {
					break
				}
				hits[off+j-i] = true
				off += j + 1
			}
		}
		n += len(hits)
	}
	return n
}

// treeState lists a directory's files with size and modification time: a repository's refs and
// objects, which a dry run must not touch.
func treeState(root string) []byte {
	var b bytes.Buffer
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			fmt.Fprintf(&b, "%s %d %s\n", strings.TrimPrefix(p, root), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano))
		}
		return nil
	})
	return b.Bytes()
}
