package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v62/github"
)

// OrgRepo is one repository of an organization, as the listing describes it.
type OrgRepo struct {
	FullName      string // owner/name
	CloneURL      string // https clone URL
	DefaultBranch string
	Private       bool
	Archived      bool // read-only on GitHub, but its history is still served and may hold the value
	Fork          bool
	Size          int // KiB, as GitHub reports it
	// SecretScanning and PushProtection are security_and_analysis statuses ("enabled",
	// "disabled"), or "" when the answer did not carry them: GitHub shows them only to a token
	// with admin rights on the repository, so "" means unknown, never off.
	SecretScanning string
	PushProtection string
}

func orgRepoFromGH(r *gh.Repository) OrgRepo {
	out := OrgRepo{FullName: r.GetFullName(), CloneURL: r.GetCloneURL(), DefaultBranch: r.GetDefaultBranch(),
		Private: r.GetPrivate(), Archived: r.GetArchived(), Fork: r.GetFork(), Size: r.GetSize()}
	if sa := r.GetSecurityAndAnalysis(); sa != nil {
		out.SecretScanning = sa.GetSecretScanning().GetStatus()
		out.PushProtection = sa.GetSecretScanningPushProtection().GetStatus()
	}
	return out
}

// OrgRepos lists every repository of org the token can see (GET /orgs/{org}/repos, type=all,
// every page), archived repositories and forks included: the caller decides what to skip.
// Without access to private repositories GitHub lists only the public ones, so the result is
// what the token can clone, not necessarily the whole organization.
func (c *Client) OrgRepos(ctx context.Context, org string) ([]OrgRepo, error) {
	if org == "" {
		return nil, fmt.Errorf("github: list repositories: no organization given")
	}
	opts := &gh.RepositoryListByOrgOptions{Type: "all", Sort: "full_name", ListOptions: gh.ListOptions{PerPage: 100}}
	var out []OrgRepo
	for {
		var repos []*gh.Repository
		var resp *gh.Response
		err := c.do(ctx, call{op: "list repositories of " + org}, func(g *gh.Client) (*gh.Response, error) {
			var err error
			repos, resp, err = g.Repositories.ListByOrg(ctx, org, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, r := range repos {
			out = append(out, orgRepoFromGH(r))
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}
