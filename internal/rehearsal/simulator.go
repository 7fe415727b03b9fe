package rehearsal

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"time"

	"github.com/respond-sec/respond/integrations/openai/openaisim"
)

// Simulator is one part of the world as the rehearsal drives it: a simulated service served on
// 127.0.0.1, or the files planted on the responder's machine. The world knows its parts only
// through this interface, so adding one is an adapter in this package and a line in
// simulators, never an edit to Start, the dry-run proof, the chaos switch or the fault count.
type Simulator interface {
	// Name names the part in errors and logs.
	Name() string
	// Start serves the part and plants the leak in it. Parts start in the order simulators
	// lists them, and a part may read what earlier ones put in the world (the leaked key, the
	// planted repository).
	Start(ctx context.Context, w *World) error
	// Env is what points a run at the part: URLs, credentials, client settings.
	Env() map[string]string
	// Inputs are the playbook inputs the part can fill.
	Inputs() map[string]any
	// Secrets are the part's credentials: masked like the leaked key and never printed.
	Secrets() []string
	// Snapshots are the states a dry run must leave byte for byte identical, in report order.
	Snapshots() []Snapshot
	// Chaos makes the part fail transiently the way the real service does on a bad day.
	Chaos(seed uint64)
	// FaultsInjected counts the errors and dropped connections the part injected (latency
	// is not a fault).
	FaultsInjected() int
	// Checks are the verifications the part answers from its own state, by check name.
	Checks() map[string]func(*verifier)
	// Close stops serving.
	Close()
}

// Snapshot is one named state of the world, compared before and after a dry run.
type Snapshot struct {
	Name  string
	State []byte
}

// simulators are the world's parts in start order: OpenAI holds the leaked key, the files
// hold the history GitHub's alert points at.
func simulators() []Simulator {
	return []Simulator{&openaiPart{}, &filesPart{}, &githubPart{}, &slackPart{}}
}

// openaiPart is the OpenAI admin API: it holds the leaked key and its usage, so it starts first
// and plants the world's leak.
type openaiPart struct {
	sim *openaisim.Server
	srv *httptest.Server
}

func (p *openaiPart) Name() string { return "OpenAI" }

func (p *openaiPart) Start(_ context.Context, w *World) error {
	p.sim = openaisim.New(openaisim.DefaultWorld(), openaisim.Options{Seed: w.Seed, Now: w.clock})
	p.srv = httptest.NewServer(p.sim)
	w.OpenAI, w.openaiURL = p.sim, p.srv.URL+"/v1"
	w.leaked = p.sim.LeakedKeySecret()
	w.leakAt, _ = p.sim.ExposureWindow()
	return nil
}

func (p *openaiPart) Env() map[string]string {
	return map[string]string{
		"OPENAI_ADMIN_KEY":        p.sim.AdminKey(),
		"RESPOND_OPENAI_BASE_URL": p.srv.URL + "/v1",
		// Faults in a rehearsal are practice: retry fast.
		"RESPOND_OPENAI_MAX_RETRY_DELAY": "50ms",
	}
}

func (p *openaiPart) Inputs() map[string]any {
	return map[string]any{"key": p.sim.LeakedKeySecret(), "alert_emails": []any{"oncall@example.com"}}
}

func (p *openaiPart) Secrets() []string { return []string{p.sim.LeakedKeySecret(), p.sim.AdminKey()} }

func (p *openaiPart) Snapshots() []Snapshot {
	return []Snapshot{{Name: "openai", State: p.sim.Snapshot()}}
}

func (p *openaiPart) Chaos(seed uint64) {
	p.sim.SetFaults(openaisim.FaultConfig{Seed: seed, Rules: []openaisim.FaultRule{
		{Latency: 2 * time.Millisecond, Jitter: 8 * time.Millisecond,
			TooManyRequests: 0.07, RetryAfter: 20 * time.Millisecond, ServerError: 0.07, Drop: 0.04, ApplyThenDrop: 0.02},
	}})
}

func (p *openaiPart) FaultsInjected() int { return p.sim.FaultsInjected() }

func (p *openaiPart) Checks() map[string]func(*verifier) {
	return map[string]func(*verifier){
		checkLeakedDead:    (*verifier).leakedDead,
		checkLeakedDeleted: (*verifier).leakedDeleted,
		checkReplacement:   (*verifier).replacement,
		checkBudgets:       (*verifier).budgets,
		checkOrgAlerts:     (*verifier).orgAlerts,
	}
}

func (p *openaiPart) Close() {
	if p.srv != nil {
		p.srv.Close()
	}
}

// filesPart is what the responder's machine holds: a repository with the leak in its history,
// the bare remote it was pushed to, and application logs. Nothing is served.
type filesPart struct {
	repo   *plantedRepo
	logDir string
}

func (p *filesPart) Name() string { return "repository and logs" }

func (p *filesPart) Start(_ context.Context, w *World) error {
	repo, err := buildRepo(w.Dir, w.leaked, w.rng, w.OpenAI.Now(), w.leakAt)
	if err != nil {
		return fmt.Errorf("rehearsal repository: %w", err)
	}
	p.repo, p.logDir = repo, filepath.Join(w.Dir, "logs")
	w.Repo, w.LogDir = repo, p.logDir
	if err := writeLogs(p.logDir, w.leaked, w.rng, w.leakAt); err != nil {
		return fmt.Errorf("rehearsal logs: %w", err)
	}
	return nil
}

func (p *filesPart) Env() map[string]string { return nil }

func (p *filesPart) Inputs() map[string]any {
	return map[string]any{"git_repos": []any{p.repo.Local}, "log_paths": []any{p.logDir}}
}

func (p *filesPart) Secrets() []string { return nil }

func (p *filesPart) Snapshots() []Snapshot {
	return []Snapshot{{Name: "local clone", State: treeState(p.repo.Local)}, {Name: "remote", State: treeState(p.repo.Remote)}}
}

// Chaos does nothing: local files do not fail transiently.
func (p *filesPart) Chaos(uint64) {}

func (p *filesPart) FaultsInjected() int { return 0 }

func (p *filesPart) Checks() map[string]func(*verifier) {
	return map[string]func(*verifier){checkHistoryPurged: (*verifier).historyPurged}
}

func (p *filesPart) Close() {}
