package githubsim

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// World is a seed: what the simulated GitHub holds before a rehearsal starts.
type World struct {
	Repos  []Repo  `yaml:"repos" json:"repos"`
	Faults []Fault `yaml:"faults" json:"faults,omitempty"`
}

// Repo seeds one repository. Its owner becomes an organization implicitly.
type Repo struct {
	Name          string `yaml:"name" json:"name"` // owner/repo
	ID            int64  `yaml:"id" json:"id,omitempty"`
	Private       bool   `yaml:"private" json:"private,omitempty"`
	DefaultBranch string `yaml:"default_branch" json:"default_branch,omitempty"`
	// PushedAt is the last push; code search skips a repository without activity for a year.
	// Zero means the simulator's now.
	PushedAt time.Time `yaml:"pushed_at" json:"pushed_at,omitempty"`
	// Archived and Fork are the listing's flags; an organization's listing includes both.
	Archived bool `yaml:"archived" json:"archived,omitempty"`
	Fork     bool `yaml:"fork" json:"fork,omitempty"`
	// CloneURL is what clone_url says. The simulator serves no git, so a test points it at a
	// local bare repository (a path or file:// URL) that go-git clones without a network;
	// empty means the github.com-shaped https URL (which nothing serves).
	CloneURL     string   `yaml:"clone_url" json:"clone_url,omitempty"`
	Environments []string `yaml:"environments" json:"environments,omitempty"`
	Files        []File   `yaml:"files" json:"files,omitempty"`
	Alerts       []Alert  `yaml:"alerts" json:"alerts,omitempty"`
	Runs         []Run    `yaml:"runs" json:"runs,omitempty"`
	// SecretScanning and PushProtection are the repository's security_and_analysis statuses
	// (StatusEnabled when empty, StatusDisabled).
	SecretScanning string   `yaml:"secret_scanning" json:"secret_scanning,omitempty"`
	PushProtection string   `yaml:"push_protection" json:"push_protection,omitempty"`
	Secrets        []Secret `yaml:"secrets" json:"secrets,omitempty"`
}

// File is a file in the repository. Code search finds it only on the default branch (Branch
// empty or equal to it) and only when under 384 KB, as github.com's legacy code search does;
// its blob is readable either way.
type File struct {
	Path    string `yaml:"path" json:"path"`
	Content string `yaml:"content" json:"content"`
	Branch  string `yaml:"branch" json:"branch,omitempty"`
}

// Alert is a secret-scanning alert. Number, State and CreatedAt default when zero.
type Alert struct {
	Number                int64      `yaml:"number" json:"number,omitempty"`
	SecretType            string     `yaml:"secret_type" json:"secret_type"`
	SecretTypeDisplayName string     `yaml:"secret_type_display_name" json:"secret_type_display_name,omitempty"`
	Secret                string     `yaml:"secret" json:"secret"`
	State                 string     `yaml:"state" json:"state,omitempty"`
	Resolution            string     `yaml:"resolution" json:"resolution,omitempty"`
	ResolutionComment     string     `yaml:"resolution_comment" json:"resolution_comment,omitempty"`
	Validity              string     `yaml:"validity" json:"validity,omitempty"`
	CreatedAt             time.Time  `yaml:"created_at" json:"created_at"`
	ResolvedAt            time.Time  `yaml:"resolved_at" json:"resolved_at"`
	Locations             []Location `yaml:"locations" json:"locations,omitempty"`
}

// Location is where an alert's secret was found.
type Location struct {
	Type        string `yaml:"type" json:"type"` // commit (default), issue_title, wiki_commit, ...
	Path        string `yaml:"path" json:"path,omitempty"`
	StartLine   int    `yaml:"start_line" json:"start_line,omitempty"`
	EndLine     int    `yaml:"end_line" json:"end_line,omitempty"`
	StartColumn int    `yaml:"start_column" json:"start_column,omitempty"`
	EndColumn   int    `yaml:"end_column" json:"end_column,omitempty"`
	CommitSHA   string `yaml:"commit_sha" json:"commit_sha,omitempty"`
	BlobSHA     string `yaml:"blob_sha" json:"blob_sha,omitempty"`
}

// Run is a workflow run; each job's log text becomes one file in the logs zip.
type Run struct {
	ID         int64     `yaml:"id" json:"id,omitempty"`
	Name       string    `yaml:"name" json:"name"`
	HeadBranch string    `yaml:"head_branch" json:"head_branch,omitempty"`
	HeadSHA    string    `yaml:"head_sha" json:"head_sha,omitempty"`
	Event      string    `yaml:"event" json:"event,omitempty"`
	Status     string    `yaml:"status" json:"status,omitempty"`
	Conclusion string    `yaml:"conclusion" json:"conclusion,omitempty"`
	CreatedAt  time.Time `yaml:"created_at" json:"created_at"`
	Jobs       []Job     `yaml:"jobs" json:"jobs,omitempty"`
}

// Job is one job of a run and its log text.
type Job struct {
	Name string `yaml:"name" json:"name"`
	Log  string `yaml:"log" json:"log"`
}

// LoadWorld decodes a YAML seed strictly (unknown keys are errors). Every "${NAME}" in a string
// value is replaced by vars[NAME] first, so a committed seed can plant a secret generated at run
// time; an unknown ${NAME} is an error.
func LoadWorld(data []byte, vars map[string]string) (World, error) {
	var missing []string
	expanded := expandVars(string(data), vars, &missing)
	if len(missing) > 0 {
		return World{}, fmt.Errorf("load github world: undefined variables %s", strings.Join(missing, ", "))
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(expanded)))
	dec.KnownFields(true)
	var w World
	if err := dec.Decode(&w); err != nil {
		return World{}, fmt.Errorf("load github world: %w", err)
	}
	return w, nil
}

func expandVars(s string, vars map[string]string, missing *[]string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		name := s[i+2 : i+j]
		b.WriteString(s[:i])
		if v, ok := vars[name]; ok {
			b.WriteString(v)
		} else if !slices.Contains(*missing, name) {
			*missing = append(*missing, name)
		}
		s = s[i+j+1:]
	}
}

// Seed adds everything in w (repositories with their files, alerts and runs, and faults).
func (s *Server) Seed(w World) error {
	for _, r := range w.Repos {
		if _, err := s.AddRepo(r); err != nil {
			return err
		}
	}
	if len(w.Faults) > 0 {
		s.AddFaults(w.Faults...)
	}
	return nil
}

// ---- internal state ----

type repo struct {
	id            int64
	owner, name   string
	private       bool
	defaultBranch string
	pushedAt      time.Time
	archived      bool
	fork          bool
	cloneURL      string
	files         []*file
	alerts        []*alert
	nextAlert     int64
	runs          []*run
	keys          *keypair
	secrets       map[string]*secret
	envs          map[string]*environment

	secretScanning, pushProtection string
}

type environment struct {
	name    string
	keys    *keypair
	secrets map[string]*secret
}

type org struct {
	login   string
	id      int64
	keys    *keypair
	secrets map[string]*secret
}

type file struct {
	path, content, sha, branch string
}

type alert struct {
	Alert
	updatedAt time.Time
}

type run struct {
	Run
	runNumber   int
	updatedAt   time.Time
	logsDeleted bool
}

type secret struct {
	name             string
	value            []byte
	created, updated time.Time
	visibility       string
	selected         []int64
}

type logRef struct {
	repo  string
	runID int64
}

func repoKey(owner, name string) string { return strings.ToLower(owner + "/" + name) }

func splitRepo(full string) (string, string, error) {
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q: want owner/name", full)
	}
	return owner, name, nil
}

func (s *Server) repoLocked(owner, name string) *repo { return s.repos[repoKey(owner, name)] }

func (s *Server) repoByNameLocked(full string) (*repo, error) {
	owner, name, err := splitRepo(full)
	if err != nil {
		return nil, err
	}
	rp := s.repoLocked(owner, name)
	if rp == nil {
		return nil, fmt.Errorf("repository %s: not seeded", full)
	}
	return rp, nil
}

// orgLocked returns the organization, creating it: every repository owner is one.
func (s *Server) orgLocked(login string) *org {
	k := strings.ToLower(login)
	o := s.orgs[k]
	if o == nil {
		o = &org{login: login, id: 5000 + int64(len(s.orgs)) + 1, secrets: map[string]*secret{}}
		s.orgs[k] = o
	}
	return o
}

// AddRepo seeds a repository (with its files, alerts, runs and environments) and returns its
// numeric ID.
func (s *Server) AddRepo(r Repo) (int64, error) {
	owner, name, err := splitRepo(r.Name)
	if err != nil {
		return 0, fmt.Errorf("add repo: %w", err)
	}
	s.mu.Lock()
	if s.repoLocked(owner, name) != nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("add repo %s: already exists", r.Name)
	}
	id := r.ID
	if id == 0 {
		for s.repoByID[s.nextRepo] != nil {
			s.nextRepo++
		}
		id = s.nextRepo
		s.nextRepo++
	} else if s.repoByID[id] != nil {
		s.mu.Unlock()
		return 0, fmt.Errorf("add repo %s: id %d already used", r.Name, id)
	}
	rp := &repo{
		id: id, owner: owner, name: name, private: r.Private, defaultBranch: r.DefaultBranch, pushedAt: r.PushedAt,
		archived: r.Archived, fork: r.Fork, cloneURL: r.CloneURL,
		nextAlert: 1, secrets: map[string]*secret{}, envs: map[string]*environment{},
		secretScanning: r.SecretScanning, pushProtection: r.PushProtection,
	}
	for _, v := range []string{r.SecretScanning, r.PushProtection} {
		if v != "" && v != StatusEnabled && v != StatusDisabled {
			s.mu.Unlock()
			return 0, fmt.Errorf("add repo %s: security status %q is not enabled or disabled", r.Name, v)
		}
	}
	for _, sec := range r.Secrets {
		if err := s.seedSecretLocked(rp.secrets, sec); err != nil {
			s.mu.Unlock()
			return 0, fmt.Errorf("add repo %s: %w", r.Name, err)
		}
	}
	if rp.defaultBranch == "" {
		rp.defaultBranch = "main"
	}
	s.repos[repoKey(owner, name)] = rp
	s.repoByID[id] = rp
	s.orgLocked(owner)
	s.mu.Unlock()

	for _, e := range r.Environments {
		if err := s.AddEnvironment(r.Name, e); err != nil {
			return 0, err
		}
	}
	for _, f := range r.Files {
		if err := s.AddFile(r.Name, f); err != nil {
			return 0, err
		}
	}
	for _, a := range r.Alerts {
		if _, err := s.AddAlert(r.Name, a); err != nil {
			return 0, err
		}
	}
	for _, run := range r.Runs {
		if _, err := s.AddRun(r.Name, run); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// RepoID returns the numeric ID of a seeded repository.
func (s *Server) RepoID(full string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, err := s.repoByNameLocked(full)
	if err != nil {
		return 0, false
	}
	return rp.id, true
}

// AddEnvironment creates a deployment environment (needed for environment secrets).
func (s *Server) AddEnvironment(repoName, env string) error {
	if env == "" {
		return errors.New("add environment: empty name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, err := s.repoByNameLocked(repoName)
	if err != nil {
		return fmt.Errorf("add environment %s: %w", env, err)
	}
	if rp.envs[strings.ToLower(env)] == nil {
		rp.envs[strings.ToLower(env)] = &environment{name: env, secrets: map[string]*secret{}}
	}
	return nil
}

// AddFile puts a file on a branch of the repository, the default one when f.Branch is empty
// (replacing one at the same path and branch).
func (s *Server) AddFile(repoName string, f File) error {
	if f.Path == "" {
		return errors.New("add file: empty path")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, err := s.repoByNameLocked(repoName)
	if err != nil {
		return fmt.Errorf("add file %s: %w", f.Path, err)
	}
	nf := &file{path: strings.TrimPrefix(f.Path, "/"), content: f.Content, sha: blobSHA(f.Content), branch: f.Branch}
	if nf.branch == rp.defaultBranch {
		nf.branch = ""
	}
	for i, old := range rp.files {
		if old.path == nf.path && old.branch == nf.branch {
			rp.files[i] = nf
			return nil
		}
	}
	rp.files = append(rp.files, nf)
	slices.SortFunc(rp.files, func(a, b *file) int {
		return cmp.Or(strings.Compare(a.path, b.path), strings.Compare(a.branch, b.branch))
	})
	return nil
}

// blobSHA is the git blob ID of content, as code search reports it.
func blobSHA(content string) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write([]byte(content))
	return hex.EncodeToString(h.Sum(nil))
}

// AddAlert seeds a secret-scanning alert and returns its number.
func (s *Server) AddAlert(repoName string, a Alert) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, err := s.repoByNameLocked(repoName)
	if err != nil {
		return 0, fmt.Errorf("add alert: %w", err)
	}
	if a.Number == 0 {
		a.Number = rp.nextAlert
	}
	for _, old := range rp.alerts {
		if old.Number == a.Number {
			return 0, fmt.Errorf("add alert %s#%d: already exists", repoName, a.Number)
		}
	}
	rp.nextAlert = max(rp.nextAlert, a.Number+1)
	if a.State == "" {
		a.State = "open"
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now()
	}
	if a.State == "resolved" && a.ResolvedAt.IsZero() {
		a.ResolvedAt = a.CreatedAt
	}
	if a.SecretTypeDisplayName == "" {
		a.SecretTypeDisplayName = a.SecretType
	}
	a.Locations = slices.Clone(a.Locations)
	for i := range a.Locations {
		if a.Locations[i].Type == "" {
			a.Locations[i].Type = "commit"
		}
	}
	rp.alerts = append(rp.alerts, &alert{Alert: a, updatedAt: a.CreatedAt})
	s.alertCreatedLocked(rp, rp.alerts[len(rp.alerts)-1])
	return a.Number, nil
}

// AddRun seeds a workflow run and returns its ID.
func (s *Server) AddRun(repoName string, r Run) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, err := s.repoByNameLocked(repoName)
	if err != nil {
		return 0, fmt.Errorf("add run: %w", err)
	}
	if r.ID == 0 {
		r.ID = s.nextRun
		s.nextRun++
	}
	for _, other := range s.repos {
		for _, old := range other.runs {
			if old.ID == r.ID {
				return 0, fmt.Errorf("add run %d: id already used", r.ID)
			}
		}
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	if r.Status == "" {
		r.Status = "completed"
	}
	if r.Conclusion == "" && r.Status == "completed" {
		r.Conclusion = "success"
	}
	if r.Event == "" {
		r.Event = "push"
	}
	if r.HeadBranch == "" {
		r.HeadBranch = rp.defaultBranch
	}
	if r.Name == "" {
		r.Name = "CI"
	}
	r.Jobs = slices.Clone(r.Jobs)
	rp.runs = append(rp.runs, &run{Run: r, runNumber: len(rp.runs) + 1, updatedAt: r.CreatedAt})
	return r.ID, nil
}

// AlertState returns the current state of an alert.
func (s *Server) AlertState(repoName string, number int64) (Alert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, err := s.repoByNameLocked(repoName)
	if err != nil {
		return Alert{}, false
	}
	for _, a := range rp.alerts {
		if a.Number == number {
			out := a.Alert
			out.Locations = slices.Clone(a.Locations)
			return out, true
		}
	}
	return Alert{}, false
}

// HasRunLogs reports whether a run exists and still has its logs.
func (s *Server) HasRunLogs(repoName string, runID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, err := s.repoByNameLocked(repoName)
	if err != nil {
		return false
	}
	for _, r := range rp.runs {
		if r.ID == runID {
			return !r.logsDeleted
		}
	}
	return false
}
