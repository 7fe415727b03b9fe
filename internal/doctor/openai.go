package doctor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

const fixAdminKey = "create an admin key at platform.openai.com → Organization → Admin keys, with All permissions, " +
	"and export it as " + openaikit.EnvAdminKey

// notReadOnly is the honest answer for a permission only a change would prove.
const notReadOnly = "cannot be checked read-only"

func checkOpenAI(ctx context.Context, o Options, env *steps.Env, by map[need][]string) []Check {
	const svc = "OpenAI"
	all := inOrder(o.Playbook, union(by, openaiProjects, openaiKeys, openaiRevoke, openaiServiceAccounts, openaiUsage, openaiCosts, openaiSpendRead, openaiSpendWrite))
	c, err := openaikit.Client(env)
	if err != nil {
		return []Check{row(svc, "admin key ("+openaikit.EnvAdminKey+")", all, Fail, notSet(o, openaikit.EnvAdminKey, err), fixAdminKey)}
	}
	projects, err := c.ListProjects(ctx)
	if err != nil {
		status, detail, fix := openaiRefusal(err, "list projects")
		rows := []Check{row(svc, "admin key ("+openaikit.EnvAdminKey+")", all, status, detail, fix)}
		return append(rows, row(svc, "everything else the OpenAI steps do", all, Unknown,
			"not checked: the admin key could not list projects", "fix the admin key first"))
	}
	rows := []Check{
		row(svc, "admin key ("+openaikit.EnvAdminKey+") valid", all, OK, "", ""),
		row(svc, "list projects", by[openaiProjects], OK, fmt.Sprintf("%d active projects", len(projects)), ""),
	}
	probe := func(n need, name string, call func(project string) error) {
		if len(by[n]) == 0 {
			return
		}
		if len(projects) == 0 {
			rows = append(rows, row(svc, name, by[n], Unknown, "no project to try it on", "create a project, or check again once there is one"))
			return
		}
		if err := call(projects[0].ID); err != nil {
			status, detail, fix := openaiRefusal(err, name)
			rows = append(rows, row(svc, name, by[n], status, detail, fix))
			return
		}
		rows = append(rows, row(svc, name, by[n], OK, "tried on project "+projects[0].ID, ""))
	}
	now := o.Now()
	probe(openaiKeys, "list project API keys", func(p string) error {
		_, err := c.ListProjectKeys(ctx, p)
		return err
	})
	rows = append(rows, row(svc, "delete project API keys", by[openaiRevoke], Unknown, notReadOnly,
		"an admin key with All permissions can; a read-only admin key cannot revoke anything"))
	probe(openaiServiceAccounts, "list service accounts", func(p string) error {
		_, err := c.FindServiceAccount(ctx, p, "respond-doctor")
		return err
	})
	rows = append(rows, row(svc, "create service accounts and their keys", by[openaiServiceAccounts], Unknown, notReadOnly,
		"an admin key with All permissions can; the replacement key is minted this way"))
	probe(openaiUsage, "read usage", func(string) error {
		_, err := c.Usage(ctx, openai.UsageQuery{Kinds: []string{openai.KindCompletions}, Start: now.Add(-24 * time.Hour), Bucket: "1d"})
		return err
	})
	probe(openaiCosts, "read costs", func(string) error {
		_, err := c.Costs(ctx, openai.CostQuery{Start: now.Add(-24 * time.Hour)})
		return err
	})
	probe(openaiSpendRead, "read spend limits, spend alerts and rate limits", func(p string) error {
		if _, err := c.GetSpendLimit(ctx, p); err != nil {
			return err
		}
		if _, err := c.ListSpendAlerts(ctx, p); err != nil {
			return err
		}
		_, err := c.ListRateLimits(ctx, p)
		return err
	})
	rows = append(rows, row(svc, "write spend limits, spend alerts and rate limits", by[openaiSpendWrite], Unknown, notReadOnly,
		"an admin key with All permissions can"))
	return keep(rows)
}

// openaiRefusal explains a failed admin call: only 401 invalid_api_key means the key itself is
// bad; any other 401 or a 403 is a key that works but may not do this.
func openaiRefusal(err error, what string) (Status, string, string) {
	var e *openai.Error
	if !errors.As(err, &e) || e.StatusCode == 0 {
		return Fail, "no answer: " + oneLine(err),
			"check network access to the OpenAI API (or " + openaikit.EnvBaseURL + "), then run respond doctor again"
	}
	switch {
	case e.StatusCode == 401 && e.Code == "invalid_api_key":
		return Fail, "the admin key was refused (invalid_api_key)", fixAdminKey
	case e.StatusCode == 401 || e.StatusCode == 403:
		return Fail, fmt.Sprintf("refused (%d %s): %s", e.StatusCode, e.Code, e.Message),
			"give the admin key permission to " + what + " (or create one with All permissions), and export it as " + openaikit.EnvAdminKey
	}
	return Fail, oneLine(err), "see the error; run respond doctor again once it is fixed"
}

func union(m map[need][]string, ns ...need) []string {
	var out []string
	for _, n := range ns {
		for _, s := range m[n] {
			if !contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// notSet is the detail of a client that could not be built: the variable is unset, or err.
func notSet(o Options, name string, err error) string {
	if o.Getenv(name) == "" {
		return "not set"
	}
	return oneLine(err)
}
