package github

import (
	"context"
	"encoding/base64"
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
	// Incomplete is true when GitHub said a query timed out before searching everything, or
	// when a query had more results than GitHub returns: "nothing found" is then not proof.
	Incomplete bool
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
func (c *Client) SearchCodeResult(ctx context.Context, query string, scope Scope) (*CodeSearch, error) {
	var qualifiers []string
	if scope.Org != "" {
		qualifiers = append(qualifiers, "org:"+scope.Org)
	}
	for i := 0; i < len(scope.Repos); i += reposPerQuery {
		var b strings.Builder
		for _, r := range scope.Repos[i:min(i+reposPerQuery, len(scope.Repos))] {
			if _, _, err := splitRepo(r); err != nil {
				return nil, err
			}
			b.WriteString(" repo:" + r)
		}
		qualifiers = append(qualifiers, strings.TrimSpace(b.String()))
	}
	if len(qualifiers) == 0 {
		qualifiers = []string{""}
	}
	out := &CodeSearch{}
	seen := map[string]bool{}
	for _, qual := range qualifiers {
		q := strings.TrimSpace(query + " " + qual)
		if err := c.searchPages(ctx, q, out, seen); err != nil {
			return nil, err
		}
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
