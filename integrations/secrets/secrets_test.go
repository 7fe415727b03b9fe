package secrets

import (
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/respond-sec/respond/integrations/github"
	"github.com/respond-sec/respond/integrations/github/githubsim"
	"github.com/respond-sec/respond/internal/fakekey"
)

// The test binary doubles as the sink command (no shell, no external program): with
// SINK_HELPER set it copies stdin to $SINK_OUT, writes its environment to $SINK_ENV_OUT, and
// exits with $SINK_EXIT after writing $SINK_STDERR to stderr.
func TestMain(m *testing.M) {
	if os.Getenv("SINK_HELPER") == "1" {
		in, _ := io.ReadAll(os.Stdin)
		if p := os.Getenv("SINK_OUT"); p != "" {
			os.WriteFile(p, in, 0o600)
		}
		if p := os.Getenv("SINK_ENV_OUT"); p != "" {
			os.WriteFile(p, []byte(strings.Join(os.Environ(), "\n")), 0o600)
		}
		fmt.Fprint(os.Stderr, os.Getenv("SINK_STDERR"))
		code := 0
		fmt.Sscan(os.Getenv("SINK_EXIT"), &code)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestCommandEnvironmentIsAnAllowList(t *testing.T) {
	t.Parallel()
	outside := map[string]string{"PATH": "/bin", "HOME": "/home/x", "LANG": "C.UTF-8", "TZ": "UTC",
		"OPENAI_ADMIN_KEY": "admin", "RESPOND_INPUT_KEY": "leaked", "AWS_PROFILE": "prod"}
	lookup := func(k string) (string, bool) { v, ok := outside[k]; return v, ok }
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing named", nil, []string{"PATH=/bin", "HOME=/home/x", "LANG=C.UTF-8"}},
		{"env adds and overrides", map[string]string{"VAULT_ADDR": "https://v", "PATH": "/opt/bin"},
			[]string{"HOME=/home/x", "LANG=C.UTF-8", "PATH=/opt/bin", "VAULT_ADDR=https://v"}},
	}
	for _, tc := range tests {
		c := &CommandSink{Argv: []string{"x"}, Env: tc.env}
		if diff := cmp.Diff(tc.want, c.environ(lookup)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	err := Spec{Type: TypeCommand, Argv: []string{"x"}, Env: map[string]string{"RESPOND_INPUT_KEY": "v"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "env: RESPOND_INPUT_KEY") {
		t.Errorf("Validate = %v", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spec   Spec
		fields []string // fields with errors, in order
	}{
		{"file ok", Spec{Type: TypeFile, Path: "/run/key"}, nil},
		{"command ok", Spec{Type: TypeCommand, Argv: []string{"vault", "kv", "put"}, Env: map[string]string{"VAULT_ADDR": "x"}}, nil},
		{"repo ok", Spec{Type: TypeGitHubActionsSecret, Repo: "acme/api", Name: "OPENAI_API_KEY"}, nil},
		{"env ok", Spec{Type: TypeGitHubActionsSecret, Repo: "acme/api", Environment: "prod", Name: "K"}, nil},
		{"org ok", Spec{Type: TypeGitHubActionsSecret, Org: "acme", Name: "K", Visibility: "selected", SelectedRepos: []string{"acme/api"}}, nil},
		{"no type", Spec{}, []string{"type"}},
		{"unknown type", Spec{Type: "vault"}, []string{"type"}},
		{"file without path", Spec{Type: TypeFile}, []string{"path"}},
		{"file dir path", Spec{Type: TypeFile, Path: "/tmp/"}, []string{"path"}},
		{"file with github fields", Spec{Type: TypeFile, Path: "k", Repo: "a/b", Name: "N", Argv: []string{"x"}}, []string{"argv", "repo", "name"}},
		{"command without argv", Spec{Type: TypeCommand, Overwrite: true}, []string{"argv", "overwrite"}},
		{"command bad env", Spec{Type: TypeCommand, Argv: []string{"x"}, Env: map[string]string{"A=B": "c"}}, []string{"env"}},
		{"github nothing", Spec{Type: TypeGitHubActionsSecret}, []string{"name", "repo"}},
		{"github both", Spec{Type: TypeGitHubActionsSecret, Repo: "a/b", Org: "a", Name: "K"}, []string{"org"}},
		{"github bad repo", Spec{Type: TypeGitHubActionsSecret, Repo: "acme", Name: "K"}, []string{"repo"}},
		{"github env without repo", Spec{Type: TypeGitHubActionsSecret, Org: "acme", Environment: "prod", Name: "K"}, []string{"environment"}},
		{"github reserved name", Spec{Type: TypeGitHubActionsSecret, Repo: "a/b", Name: "GITHUB_TOKEN"}, []string{"name"}},
		{"github bad name", Spec{Type: TypeGitHubActionsSecret, Repo: "a/b", Name: "1KEY"}, []string{"name"}},
		{"github visibility on repo", Spec{Type: TypeGitHubActionsSecret, Repo: "a/b", Name: "K", Visibility: "all"}, []string{"visibility"}},
		{"github bad visibility", Spec{Type: TypeGitHubActionsSecret, Org: "a", Name: "K", Visibility: "public"}, []string{"visibility"}},
		{"github selected without selected", Spec{Type: TypeGitHubActionsSecret, Org: "a", Name: "K", Visibility: "all", SelectedRepos: []string{"a/b"}}, []string{"selected_repos"}},
		{"github with path", Spec{Type: TypeGitHubActionsSecret, Repo: "a/b", Name: "K", Path: "x"}, []string{"path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.spec.Validate()
			var got []string
			for _, e := range unjoin(err) {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("not a *FieldError: %v", e)
				}
				got = append(got, fe.Field)
			}
			if d := cmp.Diff(tc.fields, got); d != "" {
				t.Errorf("fields (-want +got):\n%s\n%v", d, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestFileSink(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(1)
	dir := t.TempDir()
	path := filepath.Join(dir, "openai.key")
	sink, err := New(Spec{Type: TypeFile, Path: path}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := sink.Exists(t.Context()); ok || err != nil {
		t.Fatalf("exists before = %v, %v", ok, err)
	}
	first := []byte(keys.OpenAIServiceAccountKey())
	if err := sink.Deliver(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path, first)
	if ok, _ := sink.Exists(t.Context()); !ok {
		t.Error("exists after deliver = false")
	}

	// No overwrite: refused, original intact, no temp file left.
	second := []byte(keys.OpenAIServiceAccountKey())
	err = sink.Deliver(t.Context(), second)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second deliver: got %v, want ErrExists", err)
	}
	if strings.Contains(err.Error(), string(second)) {
		t.Fatal("error holds the value")
	}
	assertFile(t, path, first)
	assertOnly(t, dir, "openai.key")

	// Overwrite replaces an existing file, whatever its old mode.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	over, _ := New(Spec{Type: TypeFile, Path: path, Overwrite: true}, Deps{})
	if err := over.Deliver(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path, second)
	assertOnly(t, dir, "openai.key")

	if err := sink.Undo(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := sink.Undo(t.Context()); err != nil {
		t.Fatalf("second undo: %v", err)
	}
	assertOnly(t, dir)

	// A directory that does not exist: an error and nothing written anywhere.
	missing, _ := New(Spec{Type: TypeFile, Path: filepath.Join(dir, "nope", "k")}, Deps{})
	if err := missing.Deliver(t.Context(), first); err == nil {
		t.Fatal("deliver into a missing directory: want error")
	}
	assertOnly(t, dir)

	// The path is a directory: rename fails, the temp file is cleaned up.
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adir", "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	asDir, _ := New(Spec{Type: TypeFile, Path: filepath.Join(dir, "adir"), Overwrite: true}, Deps{})
	if err := asDir.Deliver(t.Context(), first); err == nil {
		t.Fatal("deliver over a non-empty directory: want error")
	}
	assertOnly(t, dir, "adir")
}

func assertFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s holds %d bytes, not the delivered %d", path, len(got), len(want))
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	if d := cmp.Diff(names, got); d != "" {
		t.Errorf("directory entries (-want +got):\n%s", d)
	}
}

func TestCommandSink(t *testing.T) {
	// Not parallel: t.Setenv proves respond's credentials are not passed on.
	keys := fakekey.New(2)
	t.Setenv("GITHUB_TOKEN", keys.GitHubToken())
	t.Setenv("OPENAI_ADMIN_KEY", keys.OpenAIAdminKey())
	t.Setenv("SINK_INHERITED", "yes")
	t.Setenv("RESPOND_INPUT_KEY", keys.OpenAIProjectKey())
	dir := t.TempDir()
	out, envOut := filepath.Join(dir, "stdin"), filepath.Join(dir, "env")
	value := []byte(keys.OpenAIServiceAccountKey())

	sink, err := New(Spec{Type: TypeCommand, Argv: []string{os.Args[0], "-test.run=^$"}, Env: map[string]string{
		"SINK_HELPER": "1", "SINK_OUT": out, "SINK_ENV_OUT": envOut,
	}}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Deliver(t.Context(), value); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != string(value) {
		t.Fatal("the command did not receive the exact value on stdin")
	}
	env, _ := os.ReadFile(envOut)
	var names []string
	for _, kv := range strings.Split(string(env), "\n") {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, k)
	}
	sort.Strings(names)
	want := []string{"SINK_ENV_OUT", "SINK_HELPER", "SINK_OUT"}
	for _, k := range []string{"HOME", "LANG", "PATH"} {
		if _, ok := os.LookupEnv(k); ok {
			want = append(want, k)
		}
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("the command's environment (-want +got):\n%s", diff)
	}
	if d := sink.Describe(); strings.Contains(d, "SINK") || !strings.Contains(d, "stdin of command") {
		t.Errorf("Describe = %q", d)
	}
	if _, err := sink.Exists(t.Context()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Exists: %v", err)
	}
	if err := sink.Undo(t.Context()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Undo: %v", err)
	}

	// The value echoed right where the 64 KiB stderr cap falls: masked before the cut.
	pad := strings.Repeat("x", 64<<10-40)
	failing, _ := New(Spec{Type: TypeCommand, Argv: []string{os.Args[0], "-test.run=^$"}, Env: map[string]string{
		"SINK_HELPER": "1", "SINK_EXIT": "3", "SINK_STDERR": "denied: " + pad + string(value),
	}}, Deps{})
	err = failing.Deliver(t.Context(), value)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 3 || !strings.HasPrefix(string(ce.Stderr), "denied: ") {
		t.Fatalf("got %v, want *CommandError exit 3 with stderr", err)
	}
	for i := 0; i+12 <= len(value); i++ {
		if strings.Contains(string(ce.Stderr), string(value[i:i+12])) {
			t.Fatalf("stderr kept a piece of the value (window %d)", i)
		}
	}
	if strings.Contains(err.Error(), string(value)) {
		t.Error("error text holds stderr (which echoed the value)")
	}

	notFound, _ := New(Spec{Type: TypeCommand, Argv: []string{filepath.Join(dir, "no-such-program")}}, Deps{})
	if err := notFound.Deliver(t.Context(), value); !errors.As(err, &ce) || ce.ExitCode != -1 {
		t.Errorf("missing program: %v", err)
	}
}

func TestGitHubSink(t *testing.T) {
	t.Parallel()
	keys := fakekey.New(3)
	tok := keys.GitHubToken()
	sim := githubsim.New(githubsim.Options{Token: tok, Seed: 3})
	if err := sim.Seed(githubsim.World{Repos: []githubsim.Repo{{Name: "acme/api", Environments: []string{"production"}}}}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	gc, err := github.New(github.Config{Token: tok, BaseURL: srv.URL, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Spec{Type: TypeGitHubActionsSecret, Repo: "acme/api", Name: "K"}, Deps{}); err == nil {
		t.Fatal("github sink without a client: want error")
	}
	tests := []struct {
		spec Spec
		ref  githubsim.SecretRef
		desc string
	}{
		{Spec{Type: TypeGitHubActionsSecret, Repo: "acme/api", Name: "OPENAI_API_KEY"}, githubsim.SecretRef{Repo: "acme/api"},
			"GitHub Actions secret OPENAI_API_KEY in repo acme/api"},
		{Spec{Type: TypeGitHubActionsSecret, Repo: "acme/api", Environment: "production", Name: "OPENAI_API_KEY"}, githubsim.SecretRef{Repo: "acme/api", Environment: "production"},
			"GitHub Actions secret OPENAI_API_KEY in environment production of acme/api"},
		{Spec{Type: TypeGitHubActionsSecret, Org: "acme", Name: "OPENAI_API_KEY", SelectedRepos: []string{"acme/api"}}, githubsim.SecretRef{Org: "acme"},
			"GitHub Actions secret OPENAI_API_KEY in org acme"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			sink, err := New(tc.spec, Deps{GitHub: gc})
			if err != nil {
				t.Fatal(err)
			}
			if sink.Describe() != tc.desc {
				t.Errorf("Describe = %q", sink.Describe())
			}
			value := []byte(keys.OpenAIServiceAccountKey())
			if err := sink.Deliver(t.Context(), value); err != nil {
				t.Fatal(err)
			}
			got, ok := sim.ActionsSecret(tc.ref, tc.spec.Name)
			if !ok || string(got.Value) != string(value) {
				t.Fatal("the simulator did not decrypt the exact value")
			}
			if ok, err := sink.Exists(t.Context()); !ok || err != nil {
				t.Fatalf("exists = %v, %v", ok, err)
			}
			if err := sink.Undo(t.Context()); err != nil {
				t.Fatal(err)
			}
			if ok, err := sink.Exists(t.Context()); ok || err != nil {
				t.Fatalf("exists after undo = %v, %v", ok, err)
			}
		})
	}
}
