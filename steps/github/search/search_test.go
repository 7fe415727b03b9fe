package search

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/github/githubkit"
	"github.com/respond-sec/respond/steps/github/githubtest"
	"github.com/respond-sec/respond/steps/stepstest"
)

var (
	t0     = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	commit = strings.Repeat("c0ffee", 6) + "c0ff"
)

// world plants the secret in acme/api (two alerts, a file, a run log), in acme/web (a run log
// older than the rest, a file with a look-alike in other case), and outside the scope
// (other/tool); decoys hold another key.
func world(secret, other string) githubsim.World {
	logLine := func(ts time.Time, msg string) string { return ts.Format(time.RFC3339Nano) + " " + msg + "\n" }
	return githubsim.World{Repos: []githubsim.Repo{
		{Name: "acme/api",
			Files: []githubsim.File{
				{Path: "config/settings.py", Content: "DEBUG = False\nOPENAI_API_KEY = \"" + secret + "\"\n"},
				{Path: "README.md", Content: "nothing\n"},
				{Path: "decoy.env", Content: "KEY=" + other + "\n"},
				// Code search reads default branches only: this copy is for the history scan.
				{Path: "feature.env", Content: "KEY=" + secret + "\n", Branch: "feature/x"},
			},
			Alerts: []githubsim.Alert{
				{Number: 1, SecretType: "openai_api_key", Secret: secret, CreatedAt: t0.Add(2 * time.Hour),
					Locations: []githubsim.Location{
						{Path: "config/settings.py", StartLine: 2, CommitSHA: commit},
						{Path: "old/app.py", StartLine: 7, CommitSHA: commit},
					}},
				{Number: 2, SecretType: "openai_api_key", Secret: other, CreatedAt: t0},
				{Number: 3, SecretType: "github_personal_access_token", Secret: secret, CreatedAt: t0},
			},
			Runs: []githubsim.Run{
				{ID: 101, Name: "CI", HeadSHA: commit, CreatedAt: t0.Add(time.Hour), Jobs: []githubsim.Job{
					{Name: "build", Log: logLine(t0.Add(time.Hour), "Run make") + logLine(t0.Add(time.Hour+time.Minute), "key="+secret)},
					{Name: "test", Log: logLine(t0.Add(time.Hour), "ok")},
				}},
				{ID: 102, Name: "CI", CreatedAt: t0.Add(3 * time.Hour), Jobs: []githubsim.Job{
					{Name: "build", Log: logLine(t0.Add(3*time.Hour), "key="+other)},
				}},
			}},
		{Name: "acme/web",
			Files: []githubsim.File{{Path: "src/x.js", Content: "k='" + strings.ToLower(secret) + "'\n"}},
			Runs: []githubsim.Run{
				{ID: 201, Name: "Deploy", CreatedAt: t0.Add(-24 * time.Hour), Jobs: []githubsim.Job{
					{Name: "deploy", Log: "no timestamp here " + secret + "\n"},
				}},
				{ID: 202, Name: "Deploy", CreatedAt: t0.Add(-48 * time.Hour), Jobs: []githubsim.Job{
					{Name: "deploy", Log: logLine(t0.Add(-48*time.Hour), "nothing")},
				}},
			}},
		{Name: "other/tool",
			Files: []githubsim.File{{Path: "k.txt", Content: secret}},
			Alerts: []githubsim.Alert{
				{Number: 1, SecretType: "openai_api_key", Secret: secret, CreatedAt: t0.Add(-72 * time.Hour)},
			}},
	}}
}

func loc(kind, repo, path string, line int, commit string, runID, alert int64, url string, confirmed bool) map[string]any {
	return map[string]any{"kind": kind, "repo": repo, "path": path, "line": line, "commit": commit, "run_id": runID,
		"url": url, "alert": alert, "confirmed": confirmed}
}

const web = "https://github.sim.invalid/"

func TestSearchRepos(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 1, world)
	s := &Search{Secret: f.Secret, Repos: []string{"acme/api", "acme/web"}}
	if err := s.Preflight(t.Context(), f.Env); err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	alertURL := web + "acme/api/security/secret-scanning/1"
	settingsSHA := blob("DEBUG = False\nOPENAI_API_KEY = \"" + f.Secret + "\"\n")
	want := steps.Outputs{
		"repos": []string{"acme/api", "acme/web"},
		"locations": []map[string]any{
			loc(KindActionsLog, "acme/api", "0_build.txt", 2, commit, 101, 0, web+"acme/api/actions/runs/101", true),
			loc(KindActionsLog, "acme/web", "0_deploy.txt", 1, "", 201, 0, web+"acme/web/actions/runs/201", true),
			loc(KindAlert, "acme/api", "config/settings.py", 2, commit, 0, 1, alertURL, true),
			loc(KindAlert, "acme/api", "old/app.py", 7, commit, 0, 1, alertURL, true),
			loc(KindCode, "acme/api", "config/settings.py", 2, "", 0, 0, web+"acme/api/blob/"+settingsSHA+"/config/settings.py", true),
		},
		"alerts":           []map[string]any{{"repo": "acme/api", "number": int64(1), "state": "open", "url": alertURL}},
		"runs_with_secret": []map[string]any{{"repo": "acme/api", "run_id": int64(101), "confirmed": true}, {"repo": "acme/web", "run_id": int64(201), "confirmed": true}},
		// Run 201 has no timestamps in its log, so its creation dates it: a day before t0.
		"first_seen":  t0.Add(-24 * time.Hour).Format(time.RFC3339),
		"count":       5,
		"incomplete":  false,
		"not_covered": codeSearchGaps,
	}
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("outputs (-want +got):\n%s", d)
	}
	if !containsStr(f.Rec.Secrets(), f.Secret) {
		t.Error("the secret was not registered for redaction")
	}
	logText := f.Rec.Text()
	for _, w := range []string{"1 secret-scanning alert(s)", "1 code-search file(s) (1 confirmed)", "2 of 4 Actions run(s)",
		"found in 2 repositories: acme/api, acme/web",
		// acme/web's look-alike (the value in lower case) shares the token: its file shows it is not the value.
		"1 file(s) shared the token but hold another value",
		"not covered by GitHub code search: branches other than the default branch; files of 384 KB or more"} {
		if !strings.Contains(logText, w) {
			t.Errorf("summary lacks %q:\n%s", w, logText)
		}
	}
	stepstest.AssertNoSecret(t, stepstest.JSON(t, out), f.Secret)
	stepstest.AssertNoSecret(t, logText, f.Secret)
	lines := strings.Split(strings.TrimSpace(logText), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "found in 2 repositories: 1 alert(s), 1 code file(s), 2 Actions run log(s)") {
		t.Errorf("last log line %q is not the short summary the checklist shows", last)
	}
}

func TestSearchCodeHitWhoseFileCannotBeRead(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 3, world)
	f.Sim.AddFaults(githubsim.Fault{Route: githubsim.RouteBlob, Kind: githubsim.FaultServerError, Status: 404})
	no := false
	s := &Search{Secret: f.Secret, Repos: []string{"acme/api", "acme/web"}, SecretType: "none", ScanActionsLogs: &no}
	out, err := s.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	var code []map[string]any
	for _, l := range out["locations"].([]map[string]any) {
		if l["kind"] == KindCode {
			code = append(code, l)
		}
	}
	// Both token hits stay, unconfirmed except where GitHub's fragment shows the whole value.
	want := []map[string]any{
		loc(KindCode, "acme/api", "config/settings.py", 0, "", 0, 0,
			web+"acme/api/blob/"+blob("DEBUG = False\nOPENAI_API_KEY = \""+f.Secret+"\"\n")+"/config/settings.py", true),
		loc(KindCode, "acme/web", "src/x.js", 0, "", 0, 0,
			web+"acme/web/blob/"+blob("k='"+strings.ToLower(f.Secret)+"'\n")+"/src/x.js", false),
	}
	if d := cmp.Diff(want, code); d != "" {
		t.Errorf("code locations (-want +got):\n%s", d)
	}
	if out["incomplete"] != true || !strings.Contains(f.Rec.Text(), "could not be read to check the exact value") {
		t.Errorf("an unreadable hit must be a noted gap: incomplete=%v\n%s", out["incomplete"], f.Rec.Text())
	}
	stepstest.AssertNoSecret(t, f.Rec.Text(), f.Secret)
}

func TestSearchOrg(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 2, world)
	s := &Search{Secret: f.Secret, Org: "acme", Since: t0.Format(time.RFC3339)}
	out, err := s.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	// With only the org, runs are scanned in the repositories other findings named: acme/api
	// (alert, code); acme/web's look-alike file is not a finding, and its runs predate since.
	if d := cmp.Diff([]string{"acme/api"}, out["repos"]); d != "" {
		t.Errorf("repos (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]map[string]any{{"repo": "acme/api", "run_id": int64(101), "confirmed": true}}, out["runs_with_secret"]); d != "" {
		t.Errorf("runs (-want +got):\n%s", d)
	}
	if got, want := out["first_seen"], t0.Add(time.Hour+time.Minute).Format(time.RFC3339); got != want {
		t.Errorf("first_seen = %v, want %v (the log line)", got, want)
	}
	if out["incomplete"] != true || !strings.Contains(f.Rec.Text(), "cannot be listed") {
		t.Errorf("org-only search must say Actions coverage is partial: incomplete=%v\n%s", out["incomplete"], f.Rec.Text())
	}
	stepstest.AssertNoSecret(t, stepstest.JSON(t, out), f.Secret)
	stepstest.AssertNoSecret(t, f.Rec.Text(), f.Secret)
}

func TestSearchSwitchesAndTypes(t *testing.T) {
	t.Parallel()
	no := false
	tests := []struct {
		name      string
		s         Search
		wantKinds map[string]int
	}{
		{"alerts only", Search{Repos: []string{"acme/api"}, SearchCode: &no, ScanActionsLogs: &no}, map[string]int{KindAlert: 2}},
		{"all types", Search{Repos: []string{"acme/api"}, SecretType: "all", SearchCode: &no, ScanActionsLogs: &no}, map[string]int{KindAlert: 3}},
		{"other type", Search{Repos: []string{"acme/api"}, SecretType: "github_personal_access_token", SearchCode: &no, ScanActionsLogs: &no}, map[string]int{KindAlert: 1}},
		{"code only", Search{Repos: []string{"acme/web", "acme/api"}, SecretType: "none", ScanActionsLogs: &no}, map[string]int{KindCode: 1}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := githubtest.Start(t, uint64(10+i), world)
			tc.s.Secret = f.Secret
			out, err := tc.s.Run(t.Context(), f.Env)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, l := range out["locations"].([]map[string]any) {
				got[l["kind"].(string)]++
			}
			if d := cmp.Diff(tc.wantKinds, got); d != "" {
				t.Errorf("location kinds (-want +got):\n%s", d)
			}
		})
	}
}

func TestSearchExpiredLogsAndMaxRuns(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 3, world)
	// Deleting the logs of run 101 through the API leaves the run listed but its logs gone (410).
	c, err := githubkit.Client(f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRunLogs(t.Context(), "acme/api", 101); err != nil {
		t.Fatal(err)
	}
	s := &Search{Secret: f.Secret, Repos: []string{"acme/api", "acme/web"}, MaxRuns: 1}
	out, err := s.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	// Newest run per repo only: 102 (no secret) in acme/api, 201 in acme/web.
	if d := cmp.Diff([]map[string]any{{"repo": "acme/web", "run_id": int64(201), "confirmed": true}}, out["runs_with_secret"]); d != "" {
		t.Errorf("runs (-want +got):\n%s", d)
	}
	if out["incomplete"] != true || !strings.Contains(f.Rec.Text(), "newest 1 of 2") {
		t.Errorf("a max_runs cut must be reported:\n%s", f.Rec.Text())
	}

	f.Rec.ResetLogs()
	s = &Search{Secret: f.Secret, Repos: []string{"acme/api"}}
	if _, err := s.Run(t.Context(), f.Env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Rec.Text(), "(1 with expired logs)") {
		t.Errorf("expired logs not counted:\n%s", f.Rec.Text())
	}
}

func TestSearchSurvivesRateLimits(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 4, world)
	// One 429 with Retry-After: 1s on the run listing: the wrapper waits it out. One 503 on a
	// log download: the wrapper sends it again.
	f.Sim.AddFaults(githubsim.Fault{Route: githubsim.RouteRuns, Kind: githubsim.FaultTooManyRequests, Times: 1, RetryAfter: time.Second},
		githubsim.Fault{Route: githubsim.RouteLogsZip, Kind: githubsim.FaultServerError, Times: 1, Status: 503})
	s := &Search{Secret: f.Secret, Repos: []string{"acme/api"}, SearchCode: new(bool)}
	out, err := s.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(out["runs_with_secret"].([]map[string]any)); got != 1 {
		t.Errorf("runs with secret = %d, want 1", got)
	}
	if fired := f.Sim.FaultsFired(); fired[0] != 1 || fired[1] != 1 {
		t.Errorf("faults fired = %v", fired)
	}

	// A download that keeps failing outlasts the wrapper's retries: the step fails with a
	// transient error, for the engine's retry policy.
	f.Sim.ClearFaults()
	f.Sim.AddFaults(githubsim.Fault{Route: githubsim.RouteLogsZip, Kind: githubsim.FaultServerError, Times: 50, Status: 503})
	if out, err = s.Run(t.Context(), f.Env); err == nil {
		t.Fatalf("a lasting 503 on a log download must fail the step; got %v", out)
	}
	if !steps.IsTransient(err) {
		t.Errorf("503 error is not transient: %v", err)
	}
	stepstest.AssertNoSecret(t, err.Error(), f.Secret)
}

func TestSearchRateLimitIsTransient(t *testing.T) {
	t.Parallel()
	kinds := []githubsim.FaultKind{githubsim.FaultTooManyRequests, githubsim.FaultSecondaryRateLimit, githubsim.FaultPrimaryRateLimit}
	for i, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := githubtest.Start(t, uint64(20+i), world)
			f.Sim.AddFaults(githubsim.Fault{Route: githubsim.RouteOrgAlerts, Kind: kind, RetryAfter: 30 * time.Second})
			// A client that never waits hands the rate limit straight back to the engine.
			s := &Search{Secret: f.Secret, Org: "acme", client: f.NoWaitClient(t)}
			_, err := s.Run(t.Context(), f.Env)
			if !steps.IsTransient(err) || steps.RetryAfter(err) < 29*time.Second {
				t.Fatalf("got %v (transient %v, retry after %s), want a transient error asking for 30s", err, steps.IsTransient(err), steps.RetryAfter(err))
			}
			if errors.Is(err, steps.ErrCredentials) {
				t.Errorf("a rate limit is not a credential problem: %v", err)
			}
			stepstest.AssertNoSecret(t, err.Error(), f.Secret)
			stepstest.AssertNoSecret(t, f.Rec.Text(), f.Secret)
		})
	}
}

func TestSearchCredentials(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 5, world)
	env := f.EnvWithToken(t, "")
	s := &Search{Secret: f.Secret, Repos: []string{"acme/api"}}
	if err := s.Preflight(t.Context(), env); !errors.Is(err, steps.ErrCredentials) {
		t.Errorf("no token: got %v, want ErrCredentials", err)
	}
	env = f.EnvWithToken(t, fakekey.New(99).GitHubToken())
	if err := s.Preflight(t.Context(), env); !errors.Is(err, steps.ErrCredentials) {
		t.Errorf("wrong token: got %v, want ErrCredentials", err)
	}
	if err := (&Search{Secret: f.Secret}).Preflight(t.Context(), env); err != nil {
		t.Errorf("nothing to search needs no token: %v", err)
	}
	s = &Search{Secret: f.Secret, Repos: []string{"acme/missing"}}
	if err := s.Preflight(t.Context(), f.Env); err == nil || !strings.Contains(err.Error(), "acme/missing") {
		t.Errorf("invisible repo: got %v", err)
	}
}

func TestSearchSkips(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 6, world)
	for _, s := range []*Search{
		{Secret: "key_abc123", Repos: []string{"acme/api"}},
		{Secret: f.Secret},
	} {
		_, err := s.Run(t.Context(), f.Env)
		if _, ok := steps.IsSkip(err); !ok {
			t.Errorf("%+v: got %v, want a skip", s.Repos, err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	secret := fakekey.New(7).OpenAIProjectKey()
	tests := []struct {
		name string
		s    Search
		want string // substring of the error; empty for none
	}{
		{"ok", Search{Secret: secret, Org: "acme", Repos: []string{"a/b"}, Since: "2024-05-01T10:00:00Z"}, ""},
		{"date", Search{Secret: secret, Since: "2024-05-01"}, ""},
		{"no secret", Search{Org: "acme"}, "secret: the leaked value is required"},
		{"short secret", Search{Secret: "abc", Org: "acme"}, "secret: shorter than"},
		{"bad repo", Search{Secret: secret, Repos: []string{"acme"}}, `repos[0]: "acme": want owner/name`},
		{"bad org", Search{Secret: secret, Org: "acme/api"}, "org:"},
		{"bad since", Search{Secret: secret, Org: "acme", Since: "yesterday"}, "since:"},
		{"bad max_runs", Search{Secret: secret, Org: "acme", MaxRuns: -1}, "max_runs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stepstest.CheckError(t, tc.s.Validate(), tc.want, secret)
		})
	}
}

func TestSearchToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"sk-proj-abc_defghij-klm", "defghij"},
		{"abc", "abc"},
		{"-_-", ""},
		{"aa-bbbb_cc", "bbbb"},
		{"x1234567890y", "x1234567890y"},
		{"first-second", "second"},
		{"equal-sizes", "equal"}, // the first of the longest runs
	} {
		if got := searchToken(tc.in); got != tc.want {
			t.Errorf("searchToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A generated key always has a run long enough to search for.
	for seed := range uint64(200) {
		if k := fakekey.New(seed).OpenAIProjectKey(); len(searchToken(k)) < minTokenLen {
			t.Errorf("key from seed %d: longest run %d characters", seed, len(searchToken(k)))
		}
	}
}

func TestCodeSearchSkipsWhatGitHubCannotMatch(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 4, world)
	no := false
	for _, tc := range []struct{ name, secret, note string }{
		{"no long run", strings.Repeat("ab-", 20), "no run of 12 or more letters and digits"},
		{"run too long for a query", strings.Repeat("x1", 150), "is 300 characters, and GitHub accepts at most 256"},
	} {
		rec := stepstest.New(t, map[string]string{githubkit.EnvToken: f.Token, githubkit.EnvBaseURL: f.URL})
		s := &Search{Secret: tc.secret, Repos: []string{"acme/api"}, SecretType: "none", ScanActionsLogs: &no}
		out, err := s.Run(t.Context(), rec.Env)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if out["incomplete"] != true || !strings.Contains(rec.Text(), "code search skipped: ") || !strings.Contains(rec.Text(), tc.note) {
			t.Errorf("%s: want a noted skip saying %q:\n%s", tc.name, tc.note, rec.Text())
		}
	}
	if n := f.Sim.Requests()[githubsim.RouteSearchCode]; n != 0 {
		t.Errorf("%d code searches sent for values code search cannot match", n)
	}
}

func TestFragmentsHold(t *testing.T) {
	t.Parallel()
	secret := fakekey.New(8).OpenAIProjectKey()
	for _, tc := range []struct {
		name  string
		frags []string
		want  bool
	}{
		{"whole value", []string{"x", "k=" + secret}, true},
		{"cut line", []string{"…" + secret[40:]}, false},
		{"no fragments", nil, false},
		{"other case", []string{strings.ToUpper(secret)}, false},
	} {
		if got := fragmentsHold(tc.frags, secret); got != tc.want {
			t.Errorf("%s: fragmentsHold = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func containsStr(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// blob is git's blob ID of content, as code search reports it.
func blob(content string) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write([]byte(content))
	return hex.EncodeToString(h.Sum(nil))
}

func TestSearchGaps(t *testing.T) {
	t.Parallel()
	f := githubtest.Start(t, 30, world)
	// An org the token cannot list falls back to the named repositories; a repository that is
	// not there is a noted gap, not a failure.
	s := &Search{Secret: f.Secret, Org: "ghost", Repos: []string{"acme/api", "acme/missing"}}
	out, err := s.Run(t.Context(), f.Env)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]map[string]any{{"repo": "acme/api", "number": int64(1), "state": "open",
		"url": web + "acme/api/security/secret-scanning/1"}}, out["alerts"]); d != "" {
		t.Errorf("alerts (-want +got):\n%s", d)
	}
	if out["incomplete"] != true {
		t.Error("gaps must make the result incomplete")
	}
	for _, w := range []string{"note: secret-scanning alerts of org ghost: list secret-scanning alerts for org ghost: 404",
		"note: secret-scanning alerts of acme/missing:", "note: Actions runs of acme/missing:",
		"note: code search: GitHub cannot search org ghost, acme/missing"} {
		if !strings.Contains(f.Rec.Text(), w) {
			t.Errorf("log lacks %q:\n%s", w, f.Rec.Text())
		}
	}
	stepstest.AssertNoSecret(t, stepstest.JSON(t, out), f.Secret)
	stepstest.AssertNoSecret(t, f.Rec.Text(), f.Secret)
}
