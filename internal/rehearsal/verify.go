package rehearsal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/integrations/gitrepo"
	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/integrations/openai/openaisim"
	"github.com/respond-sec/respond/integrations/secrets"
	"github.com/respond-sec/respond/integrations/slack/slacksim"
	"github.com/respond-sec/respond/internal/playbook"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/catalog"
)

// Verification is one check of the final state.
type Verification struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Scope is what a playbook does that the world can check afterwards: a playbook is judged on
// the step kinds it uses, not on what the built-in one would have done.
type Scope struct {
	// Kinds are the step kinds the playbook uses.
	Kinds map[string]bool
	// Deliveries are the sink types its replacement steps deliver the new key to (file,
	// github-actions-secret, ...).
	Deliveries map[string]bool
	// Slack is set when the playbook reports to Slack (notify, or a slack step).
	Slack bool
}

// The checks a kind can contribute, in the order they are reported.
const (
	checkLeakedDead       = "leaked key dead"
	checkLeakedDeleted    = "leaked key deleted"
	checkReplacement      = "replacement key"
	checkHistoryPurged    = "history purged"
	checkActionsLogs      = "Actions logs"
	checkAlerts           = "alerts"
	checkReplacementSinks = "replacement key sinks"
	checkSlack            = "Slack"
	checkBudgets          = "budgets"
	checkOrgAlerts        = "organization alerts"
)

// effectChecks maps what a kind changes (its declared effects) to the checks that prove it from
// the world's state. A kind that only reads (a search, a review) declares no effect: its work is
// judged by the run succeeding; so is a team's own program (exec).
var effectChecks = map[steps.Effect][]string{
	steps.DeletesKey:          {checkLeakedDead, checkLeakedDeleted},
	steps.ProvesKeyDead:       {checkLeakedDead},
	steps.DeliversReplacement: {checkReplacement, checkReplacementSinks},
	steps.TightensBudgets:     {checkBudgets},
	steps.AddsOrgSpendAlerts:  {checkOrgAlerts},
	steps.PurgesHistory:       {checkHistoryPurged},
	steps.PurgesLogs:          {checkActionsLogs},
	steps.ResolvesAlerts:      {checkAlerts},
	steps.PostsToSlack:        {checkSlack},
}

// kindChecks lists the checks the kind named uses contributes.
func kindChecks(uses string) []string {
	k, _ := catalog.Lookup(uses)
	var out []string
	for _, e := range k.Traits.Effects {
		out = append(out, effectChecks[e]...)
	}
	return out
}

var checkOrder = []string{checkLeakedDead, checkLeakedDeleted, checkReplacement, checkHistoryPurged,
	checkActionsLogs, checkAlerts, checkReplacementSinks, checkSlack, checkBudgets, checkOrgAlerts}

// worldSinks are the delivery destinations the world can check.
var worldSinks = []string{secrets.TypeFile, secrets.TypeGitHubActionsSecret}

// FullScope is every kind and every sink the world has (more than the built-in playbook uses:
// ScopeOf says what one playbook does).
func FullScope() Scope {
	s := Scope{Kinds: map[string]bool{}, Deliveries: map[string]bool{}, Slack: true}
	for _, k := range catalog.Kinds {
		s.Kinds[k.Name] = true
	}
	for _, t := range worldSinks {
		s.Deliveries[t] = true
	}
	return s
}

// ScopeOf reads what a playbook does: its kinds, where its replacements are delivered, its Slack
// reporting.
func ScopeOf(pb *playbook.Playbook) Scope {
	s := Scope{Kinds: map[string]bool{}, Deliveries: map[string]bool{}, Slack: pb.Notify.SlackChannel != ""}
	for _, st := range pb.Steps {
		s.Kinds[st.Uses] = true
		tr := st.Kind.Traits
		if slices.Contains(tr.Effects, steps.PostsToSlack) {
			s.Slack = true
		}
		if tr.Deliveries == nil {
			continue
		}
		types, all := tr.Deliveries(st.With)
		if all {
			// A template decides the destinations: every sink the world has is checked.
			types = worldSinks
		}
		for _, t := range types {
			s.Deliveries[t] = true
		}
	}
	return s
}

// Checks lists, in order, the checks a scope brings.
func (s Scope) Checks() []string {
	want := map[string]bool{}
	for k := range s.Kinds {
		for _, c := range kindChecks(k) {
			want[c] = true
		}
	}
	if s.Slack {
		want[checkSlack] = true
	}
	var out []string
	for _, c := range checkOrder {
		if want[c] {
			out = append(out, c)
		}
	}
	return out
}

// Unchecked lists, sorted, the kinds the playbook uses that contribute no check: they are
// judged by their own result only.
func (s Scope) Unchecked() []string {
	var out []string
	for k := range s.Kinds {
		if len(kindChecks(k)) == 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// VerifyFor checks what the playbook's step kinds contribute, from the simulators' and
// repositories' state.
func (w *World) VerifyFor(ctx context.Context, before openaisim.State, scope Scope) []Verification {
	v := &verifier{w: w, ctx: ctx, scope: scope, before: before, after: w.OpenAI.State()}
	existed := map[string]bool{}
	for _, k := range before.Keys {
		existed[k.ID] = true
	}
	for _, k := range v.after.Keys {
		if !existed[k.ID] && !k.Deleted {
			v.fresh = append(v.fresh, k)
		}
	}
	checks := map[string]func(*verifier){}
	for _, p := range w.parts {
		for name, check := range p.Checks() {
			checks[name] = check
		}
	}
	for _, c := range scope.Checks() {
		if check := checks[c]; check != nil {
			check(v)
		}
	}
	return v.out
}

// verifier holds what several checks share.
type verifier struct {
	w             *World
	ctx           context.Context
	scope         Scope
	before, after openaisim.State
	fresh         []openaisim.KeyState // live keys the run created
	out           []Verification
}

func (v *verifier) add(name string, ok bool, format string, args ...any) {
	v.out = append(v.out, Verification{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// check asks the OpenAI simulator, as a client would, whether a value authenticates.
func (v *verifier) check(value string) (openai.KeyCheck, error) {
	oc, err := openai.New(openai.Config{AdminKey: v.w.OpenAI.AdminKey(), BaseURL: v.w.openaiURL, MaxRetries: 3})
	if err != nil {
		return openai.KeyCheck{}, err
	}
	st, _ := oc.CheckKey(v.ctx, value) // a transport failure leaves Status 0: neither dead nor working
	return st, nil
}

func (v *verifier) leakedDead() {
	status, err := v.check(v.w.leaked)
	if err != nil {
		v.add("simulator reachable", false, "%v", err)
		return
	}
	v.add("leaked key is dead", status.Dead(), "GET /v1/models with the leaked value answers %s (only 401 %s proves it)",
		status, openai.CodeInvalidAPIKey)
}

func (v *verifier) leakedDeleted() {
	id := v.w.OpenAI.LeakedKeyID()
	if k, ok := v.w.OpenAI.Key(id); ok {
		v.add("leaked key is deleted", k.Deleted, "%s deleted=%v", id, k.Deleted)
	}
}

func (v *verifier) replacement() {
	v.add("exactly one replacement key", len(v.fresh) == 1, "%d new live key(s)", len(v.fresh))
	if len(v.fresh) != 1 {
		return
	}
	k := v.fresh[0]
	v.add("replacement key is scoped", !k.AllPermissions(), "scopes %v", k.Scopes)
	v.add("replacement key expires", !k.ExpiresAt.IsZero(), "expires %s", k.ExpiresAt.Format(time.RFC3339))
	if !v.scope.Deliveries["file"] {
		return
	}
	file := v.w.SecretFile()
	b, err := os.ReadFile(file)
	if err != nil {
		v.add("replacement key delivered to the file", false, "%v", err)
		return
	}
	value := strings.TrimSpace(string(b))
	st, _ := os.Stat(file)
	v.add("replacement key delivered to the file", isKey(value, k) && st.Mode().Perm() == 0o600,
		"%s holds key %s (mode %v)", file, k.ID, st.Mode().Perm())
	live, err := v.check(value)
	if err != nil {
		v.add("simulator reachable", false, "%v", err)
		return
	}
	v.add("replacement key works", live.Works(), "GET /v1/models with the delivered value answers %s", live)
}

// isKey reports whether value is the secret of key k (the simulator keeps a hash prefix).
func isKey(value string, k openaisim.KeyState) bool {
	sum := sha256.Sum256([]byte(value))
	return strings.HasPrefix(hex.EncodeToString(sum[:]), k.Fingerprint)
}

// historyPurged checks the repositories' refs and object stores.
func (v *verifier) historyPurged() {
	for _, r := range []struct{ name, path string }{{"local clone", v.w.Repo.Local}, {"remote", v.w.Repo.Remote}} {
		res, err := gitrepo.Scan(v.ctx, gitrepo.ScanOptions{Path: r.path, Secrets: [][]byte{[]byte(v.w.leaked)}})
		if err != nil {
			v.add("leaked key gone from the "+r.name, false, "%v", err)
			continue
		}
		n := len(res.Findings) + res.Unreachable
		v.add("leaked key gone from the "+r.name, n == 0, "%d finding(s) in %d refs, %d unreachable object(s) holding it",
			len(res.Findings), res.Refs, res.Unreachable)
	}
}

func (v *verifier) actionsLogs() {
	gh := v.w.GitHub
	v.add("Actions logs with the key deleted", !gh.HasRunLogs(Repo, v.w.RunWithKey),
		"run %d logs present: %v", v.w.RunWithKey, gh.HasRunLogs(Repo, v.w.RunWithKey))
	v.add("Actions logs without the key kept", gh.HasRunLogs(Repo, v.w.CleanRun),
		"run %d logs present: %v", v.w.CleanRun, gh.HasRunLogs(Repo, v.w.CleanRun))
}

func (v *verifier) alerts() {
	a, _ := v.w.GitHub.AlertState(Repo, v.w.KeyAlert)
	v.add("alert for the key resolved as revoked", a.State == "resolved" && a.Resolution == "revoked",
		"alert %d: %s, %s", v.w.KeyAlert, a.State, a.Resolution)
	o, _ := v.w.GitHub.AlertState(Repo, v.w.OtherAlert)
	v.add("alert for another secret left open", o.State == "open", "alert %d: %s", v.w.OtherAlert, o.State)
}

// replacementSinks checks the Actions secret, when the playbook delivers there, and that the new
// value lives only in its sinks: not in any repository, not in the logs.
func (v *verifier) replacementSinks() {
	var value []byte
	if len(v.fresh) == 1 && v.scope.Deliveries["file"] {
		if b, err := os.ReadFile(v.w.SecretFile()); err == nil && isKey(string(bytes.TrimSpace(b)), v.fresh[0]) {
			value = bytes.TrimSpace(b)
		}
	}
	if v.scope.Deliveries["github-actions-secret"] {
		sv, ok := v.w.GitHub.ActionsSecret(githubsim.SecretRef{Repo: Repo}, "OPENAI_API_KEY")
		delivered := ok && len(v.fresh) == 1 && isKey(string(bytes.TrimSpace(sv.Value)), v.fresh[0])
		v.add("replacement key delivered to the Actions secret", delivered, "%s secret OPENAI_API_KEY decrypts to the new key: %v", Repo, delivered)
		if delivered {
			value = bytes.TrimSpace(sv.Value)
		}
	}
	if value == nil {
		return
	}
	copies := 0
	for _, repo := range []string{v.w.Repo.Local, v.w.Repo.Remote} {
		if res, err := gitrepo.Scan(v.ctx, gitrepo.ScanOptions{Path: repo, Secrets: [][]byte{value}}); err == nil {
			copies += len(res.Findings) + res.Unreachable
		}
	}
	filepath.WalkDir(v.w.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == v.w.SecretFile() || strings.Contains(p, ".git") {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, value) {
			copies++
		}
		return nil
	})
	v.add("replacement key only in its sinks", copies == 0, "%d other copies in the world's repositories and files", copies)
}

// slack checks what a person sees in the channel: one parent message whose final state shows
// every step finished, and no key anywhere in the channel.
func (v *verifier) slack() {
	msgs := v.w.Slack.Channel(v.w.channel)
	parents := 0
	var parent slacksim.Message
	for _, m := range msgs {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			parents++
			parent = m
		}
	}
	text := v.w.Slack.Render(parent.Text, parent.Blocks)
	done, total := -1, 0
	if m := finishedRe.FindStringSubmatch(text); m != nil {
		done, _ = strconv.Atoi(m[1])
		total, _ = strconv.Atoi(m[2])
	}
	v.add("Slack parent message shows every step done", parents == 1 && done == total && total > 0 && strings.Contains(text, "Run succeeded"),
		"%d parent message(s); final state %q", parents, firstLineOf(text))
	if bytes.Contains(v.w.Slack.Snapshot(), []byte(v.w.leaked)) {
		v.add("no key in Slack", false, "the leaked key was posted")
	}
}

func (v *verifier) budgets() {
	k, ok := v.w.OpenAI.Key(v.w.OpenAI.LeakedKeyID())
	if !ok {
		return
	}
	var limit *openaisim.SpendLimitState
	for i, l := range v.after.SpendLimits {
		if l.ProjectID == k.ProjectID {
			limit = &v.after.SpendLimits[i]
		}
	}
	v.add("project spend limit set", limit != nil && limit.Cents > 0, "%s: %v", k.ProjectID, describeLimit(limit))
	alerts := 0
	for _, a := range v.after.SpendAlerts {
		if a.ProjectID == k.ProjectID {
			alerts++
		}
	}
	v.add("project spend alerts set", alerts > 0, "%d alert(s) on %s", alerts, k.ProjectID)
}

func (v *verifier) orgAlerts() {
	n := 0
	for _, a := range v.after.SpendAlerts {
		if a.ProjectID == "" {
			n++
		}
	}
	v.add("organization spend alerts set", n > 0, "%d organization alert(s)", n)
}

func describeLimit(l *openaisim.SpendLimitState) string {
	if l == nil {
		return "none"
	}
	return fmt.Sprintf("$%.2f/month", float64(l.Cents)/100)
}

var finishedRe = regexp.MustCompile(`(\d+) of (\d+) steps finished`)

func firstLineOf(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "Run ") {
			return strings.TrimSpace(l)
		}
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// InputNames are the inputs the world can fill, sorted.
func (w *World) InputNames() []string { return inputNames(w.inputs) }

// InputNames are the inputs the world can fill, sorted.
func (h Handle) InputNames() []string { return inputNames(h.Inputs) }

func inputNames(in map[string]any) []string {
	out := make([]string, 0, len(in))
	for k := range in {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
