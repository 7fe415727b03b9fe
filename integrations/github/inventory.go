package github

import (
	"context"
	"fmt"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// SecretInfo is an Actions secret as GitHub lists it: a name and dates, never a value.
type SecretInfo struct {
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// GetRepo returns one repository (owner/name) with its security settings.
func (c *Client) GetRepo(ctx context.Context, repo string) (OrgRepo, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return OrgRepo{}, err
	}
	r, err := c.repository(ctx, repo, owner, name)
	if err != nil {
		return OrgRepo{}, err
	}
	return orgRepoFromGH(r), nil
}

// ListActionsSecrets lists the Actions secrets of a repository (target.Repo) or an organization
// (target.Org), all pages. Environment secrets are not listed.
func (c *Client) ListActionsSecrets(ctx context.Context, target SecretTarget) ([]SecretInfo, error) {
	if err := target.Validate(); err != nil {
		return nil, err
	}
	if target.Environment != "" {
		return nil, fmt.Errorf("list Actions secrets of %s: environments are not listed", target)
	}
	op := "list Actions secrets of " + target.String()
	var out []SecretInfo
	opts := &gh.ListOptions{PerPage: 100}
	for {
		var page *gh.Secrets
		var next int
		err := c.do(ctx, call{op: op}, func(g *gh.Client) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			if target.Org != "" {
				page, resp, err = g.Actions.ListOrgSecrets(ctx, target.Org, opts)
			} else {
				owner, name, _ := splitRepo(target.Repo)
				page, resp, err = g.Actions.ListRepoSecrets(ctx, owner, name, opts)
			}
			if resp != nil {
				next = resp.NextPage
			}
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range page.Secrets {
			out = append(out, SecretInfo{Name: s.Name, CreatedAt: s.CreatedAt.Time, UpdatedAt: s.UpdatedAt.Time})
		}
		if next == 0 {
			return out, nil
		}
		opts.Page = next
	}
}
