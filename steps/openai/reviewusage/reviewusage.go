// Package reviewusage is the `openai.review-usage` step: what was the leaked key used for while it was
// exposed? It compares the exposure window with a baseline of the same length just before it,
// hour by hour and model by model, and flags what a person should look at: a jump in requests or
// cost, models the key never used before, and activity at hours the key was normally quiet.
package reviewusage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/respond-sec/respond/integrations/openai"
	"github.com/respond-sec/respond/steps"
	"github.com/respond-sec/respond/steps/openai/openaikit"
)

// Review's parameters.
type Review struct {
	Project string `yaml:"project"`
	KeyID   string `yaml:"key_id"`
	// The window starts at the earliest of ExposureStart, the FirstSeen times (from the search
	// steps) and KeyCreatedAt. All are RFC 3339; empty values are ignored.
	ExposureStart string   `yaml:"exposure_start"`
	FirstSeen     []string `yaml:"first_seen"`
	KeyCreatedAt  string   `yaml:"key_created_at"`
	// Until ends the window (default: now).
	Until string `yaml:"until"`
	// MaxWindow caps the window (default 720h): a key created years ago is reviewed over its
	// last month, and the report says so.
	MaxWindow time.Duration `yaml:"max_window"`
	// Threshold is the window/baseline ratio of requests per hour or cost per day above which
	// the step flags a jump (default 3).
	Threshold float64 `yaml:"threshold"`

	client usageReader
}

type usageReader interface {
	Usage(ctx context.Context, q openai.UsageQuery) ([]openai.UsageRow, error)
	Costs(ctx context.Context, q openai.CostQuery) ([]openai.CostRow, error)
}

var _ usageReader = (*openai.Client)(nil)

// Kind registers the step.
var Kind = steps.Kind{
	Name:    "openai.review-usage",
	New:     func() steps.Step { return &Review{} },
	Outputs: Outputs{},
	Summary: "usage and cost of the key over the exposure window vs an equal baseline; flags jumps, new models, off-hours use",
	Traits:  steps.Traits{Needs: []steps.Permission{steps.OpenAIUsage, steps.OpenAICosts}},
}

// Outputs are the step's results.
type Outputs struct {
	WindowStart      string   `json:"window_start"`
	WindowEnd        string   `json:"window_end"`
	WindowSource     string   `json:"window_source"`
	BaselineStart    string   `json:"baseline_start"`
	Requests         int64    `json:"requests"`
	BaselineRequests int64    `json:"baseline_requests"`
	CostUSD          float64  `json:"cost_usd"`
	BaselineCostUSD  float64  `json:"baseline_cost_usd"`
	Models           []string `json:"models"`
	NewModels        []string `json:"new_models"`
	// OffHours are the UTC hours with use outside the baseline's.
	OffHours []int    `json:"off_hours"`
	Flags    []string `json:"flags"`
	Flagged  bool     `json:"flagged"`
	// ByModel has model, requests and baseline_requests per model.
	ByModel []map[string]any `json:"by_model"`
	// Table is the review for people (the exposure window against its baseline).
	Table string `json:"table"`
	// Kinds are the usage kinds the key touched in the window.
	Kinds     []string `json:"kinds"`
	Endpoints int      `json:"endpoints"`
}

// UsageTable is the review for the report.
func (o *Outputs) UsageTable() string { return o.Table }

// ToDo asks for the flags to be reviewed with finance.
func (o *Outputs) ToDo(steps.ToDoContext) []string {
	if len(o.Flags) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("Review the usage flags (%d) with finance and decide whether customers or OpenAI must be told.", len(o.Flags))}
}

// Validate checks the parameters.
func (r *Review) Validate() error {
	if r.KeyID == "" {
		return errors.New("key_id is required")
	}
	if r.Threshold < 0 || r.MaxWindow < 0 {
		return errors.New("threshold and max_window must be positive")
	}
	for name, v := range map[string]string{"exposure_start": r.ExposureStart, "key_created_at": r.KeyCreatedAt, "until": r.Until} {
		if _, err := parseTime(v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// Preflight checks the admin key can list projects.
func (r *Review) Preflight(ctx context.Context, env *steps.Env) error {
	return openaikit.Preflight(ctx, env)
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "<no value>" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t, nil
}

// window decides the exposure window and where its start came from.
func (r *Review) window(now time.Time) (start, end time.Time, source string, err error) {
	end = now
	if r.Until != "" {
		if end, err = parseTime(r.Until); err != nil {
			return
		}
	}
	// The exposure began no later than any evidence of it: the start the person gave, the
	// earliest copy found, and the key's creation (a key is usually exposed where it was first
	// written down). The earliest wins, so a copy found an hour ago cannot shrink the window to
	// that hour and hide the abuse (or derive the spend limit from it).
	candidates := []struct{ value, source string }{{r.ExposureStart, "exposure_start input"}}
	for _, v := range r.FirstSeen {
		candidates = append(candidates, struct{ value, source string }{v, "earliest copy found by the search steps"})
	}
	candidates = append(candidates, struct{ value, source string }{r.KeyCreatedAt, "key creation time"})
	for _, c := range candidates {
		t, perr := parseTime(c.value)
		if perr != nil {
			if c.source == "exposure_start input" || c.source == "key creation time" {
				continue // checked by Validate
			}
			return start, end, "", fmt.Errorf("first_seen: %w", perr)
		}
		if !t.IsZero() && (start.IsZero() || t.Before(start)) {
			start, source = t, c.source
		}
	}
	max := r.MaxWindow
	if max == 0 {
		max = 720 * time.Hour
	}
	if start.IsZero() {
		// Nothing dates the exposure (a key revoked before the run, whose creation the API no
		// longer shows): review the longest window rather than nothing.
		start, source = end.Add(-max), "no known exposure start"
	}
	if end.Sub(start) > max {
		start, source = end.Add(-max), source+fmt.Sprintf(", capped to the last %s", max)
	}
	if !start.Before(end) {
		start = end.Add(-time.Hour)
		source += " (in the future; reviewing the last hour)"
	}
	return start.Truncate(time.Hour), end, source, nil
}

type period struct {
	requests int64
	inTok    int64
	outTok   int64
	images   int64
	byModel  map[string]int64
	byHour   map[int]int64 // hour of day (UTC) -> requests
	// byKind counts activity per usage kind: requests, or the kind's units when it has no
	// requests (vector store bytes). project holds the project-only kinds, which the API cannot
	// attribute to a key.
	byKind    map[string]int64
	project   map[string]int64
	costUSD   float64
	costKnown bool
}

// add counts one usage row of endpoint e: toward the key's own figures when the endpoint reports
// per key (and the row is the key's), toward the project's otherwise.
func (p *period) add(e openai.UsageEndpoint, row openai.UsageRow, keyID, project string) {
	n := row.Requests
	if n == 0 {
		n = row.Units
	}
	if !e.PerKey {
		if row.ProjectID == "" || row.ProjectID == project {
			p.project[e.Kind] += n
		}
		return
	}
	if row.APIKeyID != "" && row.APIKeyID != keyID {
		return
	}
	p.byKind[e.Kind] += n
	p.requests += row.Requests
	p.inTok += row.InputTokens
	p.outTok += row.OutputTokens
	p.images += row.Images
	model := row.Model
	if model == "" {
		model = "(" + e.Kind + ")"
	}
	p.byModel[model] += row.Requests
	if row.Requests > 0 {
		p.byHour[row.Start.UTC().Hour()] += row.Requests
	}
}

func (r *Review) read(ctx context.Context, c usageReader, start, end time.Time) (*period, error) {
	p := &period{byModel: map[string]int64{}, byHour: map[int]int64{}, byKind: map[string]int64{}, project: map[string]int64{}}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	// Every usage endpoint of the document (openai.UsageEndpoints): per key where the API can
	// tell, per project where it cannot.
	for _, e := range openai.UsageEndpoints {
		if !e.PerKey && r.Project == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := openai.UsageQuery{Kinds: []string{e.Kind}, Start: start, End: end, Bucket: "1h",
				GroupBy: []string{openai.GroupAPIKeyID, openai.GroupModel}, APIKeyIDs: []string{r.KeyID}}
			if !e.PerKey {
				q.GroupBy, q.APIKeyIDs, q.ProjectIDs = []string{openai.GroupProjectID}, nil, []string{r.Project}
			}
			rows, err := c.Usage(ctx, q)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, row := range rows {
				p.add(e, row, r.KeyID, r.Project)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		q := openai.CostQuery{Start: start.Truncate(24 * time.Hour), End: end, GroupBy: []string{openai.GroupAPIKeyID}}
		if r.Project != "" {
			q.ProjectIDs = []string{r.Project}
		}
		rows, err := c.Costs(ctx, q)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		p.costKnown = true
		for _, row := range rows {
			if row.APIKeyID == r.KeyID {
				p.costUSD += row.AmountUSD
			}
		}
	}()
	wg.Wait()
	if len(errs) > 0 {
		return nil, openaikit.Classify(errors.Join(errs...))
	}
	return p, nil
}

// Run reads both periods and reports.
func (r *Review) Run(ctx context.Context, env *steps.Env) (steps.Outputs, error) {
	c := r.client
	if c == nil {
		cl, err := openaikit.Client(env)
		if err != nil {
			return nil, err
		}
		c = cl
	}
	start, end, source, err := r.window(env.Now().UTC())
	if err != nil {
		return nil, err
	}
	length := end.Sub(start)
	bStart := start.Add(-length)
	var win, base *period
	var werr, berr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); win, werr = r.read(ctx, c, start, end) }()
	go func() { defer wg.Done(); base, berr = r.read(ctx, c, bStart, start) }()
	wg.Wait()
	if err := errors.Join(werr, berr); err != nil {
		return nil, fmt.Errorf("read usage of %s: %w", r.KeyID, err)
	}
	rep := analyse(r.threshold(), length, win, base)
	table := rep.table(r.KeyID, start, end, bStart, source, win, base)
	env.Log(table, nil)
	byModel := []any{}
	for _, m := range rep.models {
		byModel = append(byModel, map[string]any{"model": m, "requests": win.byModel[m], "baseline_requests": base.byModel[m]})
	}
	return steps.Outputs{
		"window_start": start.Format(time.RFC3339), "window_end": end.Format(time.RFC3339), "window_source": source,
		"baseline_start": bStart.Format(time.RFC3339), "requests": win.requests, "baseline_requests": base.requests,
		"cost_usd": round2(win.costUSD), "baseline_cost_usd": round2(base.costUSD), "models": rep.models,
		"new_models": rep.newModels, "off_hours": rep.offHours, "flags": rep.flags, "flagged": len(rep.flags) > 0,
		"kinds": rep.kinds, "endpoints": len(openai.UsageEndpoints),
		"by_model": byModel, "table": table,
	}, nil
}

func (r *Review) threshold() float64 {
	if r.Threshold > 0 {
		return r.Threshold
	}
	return 3
}

type report struct {
	models, newModels []string
	kinds             []string // usage kinds the key touched in the window (never nil)
	offHours          []int
	flags             []string
}

// analyse compares the window with the baseline. Rates are per hour (requests) and per day
// (cost), so the comparison holds even when the window is capped or partial.
func analyse(threshold float64, length time.Duration, win, base *period) report {
	rep := report{kinds: []string{}}
	for m := range win.byModel {
		rep.models = append(rep.models, m)
		if base.byModel[m] == 0 && win.byModel[m] > 0 {
			rep.newModels = append(rep.newModels, m)
		}
	}
	sort.Strings(rep.models)
	sort.Strings(rep.newModels)
	for h, n := range win.byHour {
		if n > 0 && base.byHour[h] == 0 && len(base.byHour) > 0 {
			rep.offHours = append(rep.offHours, h)
		}
	}
	sort.Ints(rep.offHours)

	if ratio, ok := ratioOf(float64(win.requests), float64(base.requests)); ok && ratio > threshold {
		rep.flags = append(rep.flags, fmt.Sprintf("requests per hour %.1f× the baseline", ratio))
	} else if !ok && win.requests > 0 {
		rep.flags = append(rep.flags, fmt.Sprintf("%d requests in the window, none in the baseline", win.requests))
	}
	if win.costKnown {
		if ratio, ok := ratioOf(win.costUSD, base.costUSD); ok && ratio > threshold {
			rep.flags = append(rep.flags, fmt.Sprintf("cost %.1f× the baseline ($%.2f vs $%.2f)", ratio, win.costUSD, base.costUSD))
		} else if !ok && win.costUSD > 0.005 {
			rep.flags = append(rep.flags, fmt.Sprintf("$%.2f spent in the window, nothing in the baseline", win.costUSD))
		}
	}
	if len(rep.newModels) > 0 {
		rep.flags = append(rep.flags, "models never used in the baseline: "+strings.Join(rep.newModels, ", "))
	}
	if len(rep.offHours) > 0 {
		rep.flags = append(rep.flags, "requests at hours (UTC) the key was quiet in the baseline: "+hours(rep.offHours))
	}
	for _, k := range sortedKeys(win.byKind) {
		rep.kinds = append(rep.kinds, k)
		if win.byKind[k] > 0 && base.byKind[k] == 0 {
			rep.flags = append(rep.flags, "usage of "+k+", never used in the baseline")
		}
	}
	for _, k := range sortedKeys(win.project) {
		if win.project[k] > 0 && base.project[k] == 0 {
			rep.flags = append(rep.flags, fmt.Sprintf("the project started using %s in the window (reported per project only: "+
				"the API cannot tell whether this key did)", k))
		}
	}
	return rep
}

func mergeKeys(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

func sortedKeys(m map[string]int64) []string {
	var out []string
	for k, v := range m {
		if v > 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func ratioOf(a, b float64) (float64, bool) {
	if b <= 0 {
		return 0, false
	}
	return a / b, true
}

func hours(hs []int) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = fmt.Sprintf("%02dh", h)
	}
	return strings.Join(parts, " ")
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func (rep report) table(keyID string, start, end, bStart time.Time, source string, win, base *period) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage of %s\n", keyID)
	fmt.Fprintf(&b, "  window   %s → %s (%s; from %s)\n", start.Format(time.RFC3339), end.Format(time.RFC3339), end.Sub(start).Round(time.Minute), source)
	fmt.Fprintf(&b, "  baseline %s → %s\n", bStart.Format(time.RFC3339), start.Format(time.RFC3339))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  model\twindow requests\tbaseline requests\t\n")
	models := append([]string{}, rep.models...)
	for m := range base.byModel {
		if win.byModel[m] == 0 {
			models = append(models, m)
		}
	}
	sort.Strings(models)
	for _, m := range models {
		name := m
		if win.byModel[m] > 0 && base.byModel[m] == 0 {
			name += " (new)"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t\n", name, win.byModel[m], base.byModel[m])
	}
	fmt.Fprintf(tw, "  total\t%d\t%d\t\n", win.requests, base.requests)
	if win.costKnown {
		fmt.Fprintf(tw, "  cost (USD)\t%.2f\t%.2f\t\n", win.costUSD, base.costUSD)
	}
	for _, k := range sortedKeys(mergeKeys(win.project, base.project)) {
		fmt.Fprintf(tw, "  %s (whole project)\t%d\t%d\t\n", k, win.project[k], base.project[k])
	}
	tw.Flush()
	if len(rep.flags) == 0 {
		b.WriteString("  no flags: usage in the window looks like the baseline\n")
	}
	for _, f := range rep.flags {
		fmt.Fprintf(&b, "  ! %s\n", f)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Default fills the ratio above which use is flagged.
func (r *Review) Default() map[string]any {
	if r.Threshold != 0 {
		return nil
	}
	r.Threshold = r.threshold()
	return map[string]any{"threshold": r.Threshold}
}
