package github

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"
	"golang.org/x/sync/errgroup"
)

// Scope is where to look: an organization, a list of owner/name repositories, or both.
type Scope struct {
	Org   string
	Repos []string
}

// AlertScope is the scope of a secret-scanning alert listing.
type AlertScope = Scope

// Alert is a secret-scanning alert. Secret is the plaintext GitHub detected: register it with the
// redactor before anything prints an Alert.
type Alert struct {
	Repo              string // owner/name
	Number            int64
	State             string // open | resolved
	Resolution        string // revoked, false_positive, ... when resolved
	ResolutionComment string
	SecretType        string
	Secret            string
	HTMLURL           string
	CreatedAt         time.Time
	ResolvedAt        time.Time
}

// Location is where an alert's secret was found.
type Location struct {
	Type      string // commit, issue_title, wiki_commit, ...
	Path      string
	StartLine int
	EndLine   int
	CommitSHA string
	BlobSHA   string
}

// concurrency bounds the per-repository fan-out: GitHub penalises bursts with secondary limits.
const concurrency = 4

// ListSecretAlerts lists the secret-scanning alerts of an organization and/or repositories,
// following the cursor (after=) paging github.com uses, or page numbers where a server sends
// those. secretType and state are filters ("" for all; secretType may be a comma list).
func (c *Client) ListSecretAlerts(ctx context.Context, scope AlertScope, secretType, state string) ([]Alert, error) {
	var (
		out  []Alert
		seen = map[string]bool{}
	)
	add := func(as []Alert) {
		for _, a := range as {
			k := strings.ToLower(a.Repo) + "#" + fmt.Sprint(a.Number)
			if !seen[k] {
				seen[k] = true
				out = append(out, a)
			}
		}
	}
	if scope.Org != "" {
		as, err := c.listAlerts(ctx, "list secret-scanning alerts for org "+scope.Org, "",
			func(g *gh.Client, o *gh.SecretScanningAlertListOptions) ([]*gh.SecretScanningAlert, *gh.Response, error) {
				return g.SecretScanning.ListAlertsForOrg(ctx, scope.Org, o)
			}, secretType, state)
		if err != nil {
			return nil, err
		}
		add(as)
	}
	var repos []string
	for _, r := range scope.Repos {
		owner, _, err := splitRepo(r)
		if err != nil {
			return nil, err
		}
		if scope.Org == "" || !strings.EqualFold(owner, scope.Org) {
			repos = append(repos, r)
		}
	}
	results := make([][]Alert, len(repos))
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(concurrency)
	for i, r := range repos {
		owner, name, _ := splitRepo(r)
		eg.Go(func() error {
			as, err := c.listAlerts(gctx, "list secret-scanning alerts for "+r, r,
				func(g *gh.Client, o *gh.SecretScanningAlertListOptions) ([]*gh.SecretScanningAlert, *gh.Response, error) {
					return g.SecretScanning.ListAlertsForRepo(gctx, owner, name, o)
				}, secretType, state)
			results[i] = as
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	for _, as := range results {
		add(as)
	}
	slices.SortFunc(out, func(a, b Alert) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Repo), strings.ToLower(b.Repo)), cmp.Compare(a.Number, b.Number))
	})
	return out, nil
}

type listAlertsFunc func(*gh.Client, *gh.SecretScanningAlertListOptions) ([]*gh.SecretScanningAlert, *gh.Response, error)

func (c *Client) listAlerts(ctx context.Context, op, repo string, list listAlertsFunc, secretType, state string) ([]Alert, error) {
	opts := &gh.SecretScanningAlertListOptions{State: state, SecretType: secretType}
	// Both embedded option structs have PerPage; the cursor one is what github.com reads.
	opts.ListCursorOptions.PerPage = 100
	var out []Alert
	seenCursors := map[string]bool{}
	for {
		var page []*gh.SecretScanningAlert
		var resp *gh.Response
		err := c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			var err error
			page, resp, err = list(g, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			out = append(out, toAlert(a, repo))
		}
		switch {
		case resp.After != "":
			if seenCursors[resp.After] {
				return nil, fmt.Errorf("%s: server repeated cursor", op)
			}
			seenCursors[resp.After] = true
			opts.ListCursorOptions.After = resp.After
		case resp.NextPage != 0:
			opts.ListOptions.Page = resp.NextPage
		default:
			return out, nil
		}
	}
}

func toAlert(a *gh.SecretScanningAlert, repo string) Alert {
	if a.Repository != nil && a.Repository.GetFullName() != "" {
		repo = a.Repository.GetFullName()
	}
	return Alert{
		Repo:              repo,
		Number:            int64(a.GetNumber()),
		State:             a.GetState(),
		Resolution:        a.GetResolution(),
		ResolutionComment: a.GetResolutionComment(),
		SecretType:        a.GetSecretType(),
		Secret:            a.GetSecret(),
		HTMLURL:           a.GetHTMLURL(),
		CreatedAt:         a.GetCreatedAt().Time,
		ResolvedAt:        a.GetResolvedAt().Time,
	}
}

// AlertLocations lists every location of one alert.
func (c *Client) AlertLocations(ctx context.Context, repo string, number int64) ([]Location, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("list locations of alert %s#%d", repo, number)
	opts := &gh.ListOptions{PerPage: 100}
	var out []Location
	for {
		var page []*gh.SecretScanningAlertLocation
		var resp *gh.Response
		err := c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			var err error
			page, resp, err = g.SecretScanning.ListLocationsForAlert(ctx, owner, name, number, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, l := range page {
			d := l.GetDetails()
			out = append(out, Location{
				Type:      l.GetType(),
				Path:      d.GetPath(),
				StartLine: d.GetStartline(),
				EndLine:   d.GetEndLine(),
				CommitSHA: d.GetCommitSHA(),
				BlobSHA:   d.GetBlobSHA(),
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// Alert resolutions GitHub accepts.
const (
	ResolutionRevoked       = "revoked"
	ResolutionFalsePositive = "false_positive"
	ResolutionWontFix       = "wont_fix"
	ResolutionUsedInTests   = "used_in_tests"
)

// alertUpdate adds resolution_comment, which v62's SecretScanningAlertUpdateOptions lacks.
type alertUpdate struct {
	State             string  `json:"state"`
	Resolution        string  `json:"resolution"`
	ResolutionComment *string `json:"resolution_comment,omitempty"`
}

// ResolveAlert marks an alert resolved with resolution (e.g. ResolutionRevoked) and, when
// comment is not empty, a resolution comment (e.g. naming the respond run). Resolving an
// already resolved alert again is accepted by GitHub.
func (c *Client) ResolveAlert(ctx context.Context, repo string, number int64, resolution, comment string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	body := alertUpdate{State: "resolved", Resolution: resolution}
	if comment != "" {
		body.ResolutionComment = &comment
	}
	u := fmt.Sprintf("repos/%s/%s/secret-scanning/alerts/%d", owner, name, number)
	return c.do(ctx, call{op: fmt.Sprintf("resolve alert %s#%d as %s", repo, number, resolution)},
		func(g *gh.Client) (*gh.Response, error) {
			req, err := g.NewRequest("PATCH", u, body)
			if err != nil {
				return nil, err
			}
			return g.Do(ctx, req, nil)
		})
}

// GetAlert reads one secret-scanning alert of a repository, its plaintext secret included:
// register Alert.Secret with the redactor before anything prints the Alert.
func (c *Client) GetAlert(ctx context.Context, repo string, number int64) (Alert, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return Alert{}, err
	}
	var a *gh.SecretScanningAlert
	err = c.do(ctx, call{op: fmt.Sprintf("get alert %s#%d", repo, number)}, func(g *gh.Client) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		a, resp, err = g.SecretScanning.GetAlert(ctx, owner, name, number)
		return resp, err
	})
	if err != nil {
		return Alert{}, err
	}
	return toAlert(a, repo), nil
}
