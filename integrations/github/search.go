package github

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v62/github"
)

// CodeHit is one file code search found. Fragments are GitHub's text-match snippets: they
// contain the match, so redact before printing.
type CodeHit struct {
	Repo      string // owner/name
	Path      string
	SHA       string // blob SHA
	URL       string // html_url
	Fragments []string
}

// CodeSearch is a full code-search answer.
type CodeSearch struct {
	Hits []CodeHit
	// Total is GitHub's total_count summed over the queries sent (GitHub returns at most 1000
	// results per query).
	Total int
	// Incomplete is true when GitHub said a query timed out before searching everything, when
	// a query had more results than GitHub returns, or when part of the scope could not be
	// searched: "nothing found" is then not proof.
	Incomplete bool
	// Unsearchable are the repositories (owner/name) and orgs ("org NAME") GitHub refused to
	// search: they do not exist, or the token cannot see them.
	Unsearchable []string
}

// reposPerQuery keeps each query short: GitHub limits the query length and operators.
const reposPerQuery = 8

// SearchCode runs a code search for query (free text, e.g. a distinctive part of the secret)
// within scope, all pages, with text-match fragments. Errors never include the query.
func (c *Client) SearchCode(ctx context.Context, query string, scope Scope) ([]CodeHit, error) {
	res, err := c.SearchCodeResult(ctx, query, scope)
	if err != nil {
		return nil, err
	}
	return res.Hits, nil
}

// SearchCodeResult is SearchCode that also reports the total and whether the answer is complete.
//
// GitHub refuses a whole query (422) when one repo: or org: qualifier names something the token
// cannot see. A refused query of several repositories is then sent again per repository, so one
// misspelt name does not hide the others; what GitHub still refuses is listed in Unsearchable
// and makes the answer incomplete. Only when nothing at all could be searched is the refusal
// returned as the error.
func (c *Client) SearchCodeResult(ctx context.Context, query string, scope Scope) (*CodeSearch, error) {
	type target struct {
		qual  string
		names []string
	}
	var targets []target
	if scope.Org != "" {
		targets = append(targets, target{"org:" + scope.Org, []string{"org " + scope.Org}})
	}
	for i := 0; i < len(scope.Repos); i += reposPerQuery {
		var t target
		for _, r := range scope.Repos[i:min(i+reposPerQuery, len(scope.Repos))] {
			if _, _, err := splitRepo(r); err != nil {
				return nil, err
			}
			t.qual += " repo:" + r
			t.names = append(t.names, r)
		}
		t.qual = strings.TrimSpace(t.qual)
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		targets = []target{{}}
	}
	out := &CodeSearch{}
	seen := map[string]bool{}
	searched := 0
	var refused error
	search := func(qual string, names []string) error {
		err := c.searchPages(ctx, strings.TrimSpace(query+" "+qual), out, seen)
		switch {
		case err == nil:
			searched++
		case errors.Is(err, ErrInvalid) && len(names) == 1:
			out.Unsearchable = append(out.Unsearchable, names[0])
			out.Incomplete = true
			refused = err
		default:
			return err
		}
		return nil
	}
	for _, t := range targets {
		err := search(t.qual, t.names)
		if errors.Is(err, ErrInvalid) && len(t.names) > 1 {
			for _, r := range t.names {
				if err := search("repo:"+r, []string{r}); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	if searched == 0 && refused != nil {
		return nil, refused
	}
	return out, nil
}

func (c *Client) searchPages(ctx context.Context, q string, out *CodeSearch, seen map[string]bool) error {
	opts := &gh.SearchOptions{TextMatch: true, ListOptions: gh.ListOptions{PerPage: 100}}
	for {
		var res *gh.CodeSearchResult
		var resp *gh.Response
		err := c.do(ctx, call{op: "search code", bucket: bucketCodeSearch, quiet: true},
			func(g *gh.Client) (*gh.Response, error) {
				var err error
				res, resp, err = g.Search.Code(ctx, q, opts)
				return resp, err
			})
		if err != nil {
			return err
		}
		if opts.Page <= 1 {
			out.Total += res.GetTotal()
			if res.GetTotal() > 1000 {
				out.Incomplete = true
			}
		}
		if res.GetIncompleteResults() {
			out.Incomplete = true
		}
		for _, r := range res.CodeResults {
			hit := CodeHit{
				Repo: r.GetRepository().GetFullName(),
				Path: r.GetPath(),
				SHA:  r.GetSHA(),
				URL:  r.GetHTMLURL(),
			}
			for _, tm := range r.TextMatches {
				if f := tm.GetFragment(); f != "" {
					hit.Fragments = append(hit.Fragments, f)
				}
			}
			k := strings.ToLower(hit.Repo) + "\x00" + hit.Path + "\x00" + hit.SHA
			if !seen[k] {
				seen[k] = true
				out.Hits = append(out.Hits, hit)
			}
		}
		if resp.NextPage == 0 {
			return nil
		}
		opts.Page = resp.NextPage
	}
}

// Blob returns the content of the blob sha in repo (owner/name): the file behind a code-search
// hit, read to check the exact value GitHub's token search cannot. It refuses a blob larger than
// maxBytes (ErrInvalid) rather than download it.
func (c *Client) Blob(ctx context.Context, repo, sha string, maxBytes int) ([]byte, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	var b *gh.Blob
	err = c.do(ctx, call{op: "read blob " + sha + " in " + repo}, func(g *gh.Client) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		b, resp, err = g.Git.GetBlob(ctx, owner, name, sha)
		return resp, err
	})
	if err != nil {
		return nil, err
	}
	if b.GetSize() > maxBytes {
		return nil, fmt.Errorf("read blob %s in %s: %d bytes, more than %d: %w", sha, repo, b.GetSize(), maxBytes, ErrInvalid)
	}
	if enc := b.GetEncoding(); enc != "base64" {
		return nil, fmt.Errorf("read blob %s in %s: unexpected encoding %q", sha, repo, enc)
	}
	data, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "").Replace(b.GetContent()))
	if err != nil {
		return nil, fmt.Errorf("read blob %s in %s: %w", sha, repo, err)
	}
	return data, nil
}
