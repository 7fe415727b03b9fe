package openaisim

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// usageLine is one (key, model) traffic stream. Its hourly values are a pure function of the
// seed, the line index and the hour, so history is never stored and every query agrees with
// every other (1m buckets sum to 1h buckets, which sum to 1d buckets and to costs).
type usageLine struct {
	idx                                   uint64
	keyID, projectID, userID, model, kind string
	price                                 Model
	perHour                               float64
	in, out, img                          int64 // per request
	active                                [24]bool
	weekend                               float64
	from, to                              int64 // hour-aligned unix seconds, [from, to)
}

type usageModel struct {
	seed          uint64
	lines         []usageLine
	exposureStart time.Time
}

const hourSecs = 3600

func newUsageModel(w World, s *Server) *usageModel {
	anchor := s.anchor.Unix()
	histStart := anchor - int64(w.historyDays())*24*hourSecs
	u := &usageModel{seed: s.seed, exposureStart: s.anchor.Add(-time.Duration(w.Exposure.Days) * 24 * time.Hour)}
	add := func(l usageLine) {
		m := s.models[l.model]
		l.idx, l.kind, l.price = uint64(len(u.lines)), m.Kind, m
		// Each kind counts what its usage result reports: tokens (or characters, seconds,
		// bytes) in l.in and l.out, and calls, sessions or images in l.img.
		switch m.Kind {
		case KindImages, KindWebSearchCalls, KindFileSearchCalls, KindCodeInterpreterSessions:
			if l.img == 0 {
				l.img = 1
			}
			l.in, l.out = 0, 0
		case KindCompletions:
			l.img = 0
		default:
			l.out, l.img = 0, 0
		}
		if l.from < l.to && l.perHour > 0 {
			u.lines = append(u.lines, l)
		}
	}
	ki := 0
	for _, ps := range w.Projects {
		for _, ks := range ps.Keys {
			k := s.st.keys[ki]
			ki++
			from := max(ceilHour(k.created.Unix()), histStart)
			to := anchor
			if !k.expires.IsZero() {
				to = min(to, floorHour(k.expires.Unix()))
			}
			base := usageLine{keyID: k.id, projectID: k.projectID, from: from, to: to, weekend: 0.35}
			if k.user != nil {
				base.userID = k.user.ID
			}
			if ks.WeekendFactor > 0 {
				base.weekend = ks.WeekendFactor
			}
			lo, hi := 0, 24
			if len(ks.ActiveHours) == 2 {
				lo, hi = ks.ActiveHours[0], ks.ActiveHours[1]
			}
			for h := lo; h < hi; h++ {
				base.active[h] = true
			}
			for _, us := range ks.Usage {
				l := base
				l.model, l.perHour = us.Model, us.RequestsPerDay/float64(hi-lo)
				l.in, l.out, l.img = us.InputTokens, us.OutputTokens, us.Images
				add(l)
			}
			if k.id != w.LeakedKey || w.Exposure.Days == 0 || len(w.Exposure.Models) == 0 {
				continue
			}
			spike := base
			spike.weekend = 1
			spike.from = max(from, u.exposureStart.Unix())
			spike.active = [24]bool{}
			for h := range 24 {
				spike.active[h] = len(w.Exposure.Hours) == 0 || slices.Contains(w.Exposure.Hours, h)
			}
			for _, m := range w.Exposure.Models {
				l := spike
				l.model, l.perHour = m, w.Exposure.RequestsPerHour/float64(len(w.Exposure.Models))
				l.in, l.out, l.img = w.Exposure.InputTokens, w.Exposure.OutputTokens, w.Exposure.Images
				add(l)
			}
		}
	}
	return u
}

func floorHour(t int64) int64 { return t - ((t%hourSecs)+hourSecs)%hourSecs }
func ceilHour(t int64) int64 {
	if f := floorHour(t); f != t {
		return f + hourSecs
	}
	return t
}

type tally struct{ req, in, out, img int64 }

func (t *tally) add(o tally) { t.req += o.req; t.in += o.in; t.out += o.out; t.img += o.img }

// hour is the line's traffic in the hour starting at h.
func (u *usageModel) hour(l *usageLine, h int64) tally {
	if h < l.from || h >= l.to {
		return tally{}
	}
	t := time.Unix(h, 0).UTC()
	if !l.active[t.Hour()] {
		return tally{}
	}
	f := 0.7 + 0.6*unitFloat(u.seed, l.idx, uint64(h), 1)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		f *= l.weekend
	}
	req := int64(math.Round(l.perHour * f))
	if req <= 0 {
		return tally{}
	}
	tokens := func(per int64, salt uint64) int64 {
		return int64(math.Round(float64(req*per) * (0.85 + 0.3*unitFloat(u.seed, l.idx, uint64(h), salt))))
	}
	return tally{req: req, in: tokens(l.in, 2), out: tokens(l.out, 3), img: req * l.img}
}

// minuteShare is the part of an hour's tally that falls in minutes [m0, m1): requests are spread
// evenly (the remainder goes to the first minutes) and the other counters follow the requests,
// so the minutes of an hour sum exactly to the hour.
func minuteShare(t tally, m0, m1 int64) tally {
	if t.req == 0 || m0 >= m1 {
		return tally{}
	}
	cumReq := func(m int64) int64 { return (t.req/60)*m + min(m, t.req%60) }
	part := func(x int64) int64 { return x*cumReq(m1)/t.req - x*cumReq(m0)/t.req }
	return tally{req: cumReq(m1) - cumReq(m0), in: part(t.in), out: part(t.out), img: part(t.img)}
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}

// sum is the line's traffic in minutes whose start lies in [from, to).
func (u *usageModel) sum(l *usageLine, from, to int64) tally {
	var t tally
	lo, hi := max(floorHour(from), l.from), min(to, l.to)
	for h := lo; h < hi; h += hourSecs {
		ht := u.hour(l, h)
		if ht.req == 0 {
			continue
		}
		if h >= from && h+hourSecs <= to {
			t.add(ht)
			continue
		}
		m0 := min(max(ceilDiv(from-h, 60), 0), 60)
		m1 := min(max(ceilDiv(to-h, 60), 0), 60)
		t.add(minuteShare(ht, m0, m1))
	}
	return t
}

// costItems is the line's cost in hours whose start lies in [from, to), per line item.
func (u *usageModel) costItems(l *usageLine, from, to int64) (tally, [3]float64) {
	var t tally
	lo, hi := max(ceilHour(from), l.from), min(to, l.to)
	for h := lo; h < hi; h += hourSecs {
		t.add(u.hour(l, h))
	}
	return t, [3]float64{
		float64(t.in) * l.price.InputPerMillion / 1e6,
		float64(t.out) * l.price.OutputPerMillion / 1e6,
		float64(t.img) * l.price.PerImage,
	}
}

func (u *usageModel) lastUsed(keyID string) time.Time {
	var last int64
	for i := range u.lines {
		l := &u.lines[i]
		if l.keyID != keyID {
			continue
		}
		for h := l.to - hourSecs; h >= max(l.from, last); h -= hourSecs {
			if u.hour(l, h).req > 0 {
				last = max(last, h)
				break
			}
		}
	}
	if last == 0 {
		return time.Time{}
	}
	return time.Unix(last+47*60, 0).UTC()
}

// projectCost is the project's cost in USD over [from, to).
func (u *usageModel) projectCost(projectID string, from, to time.Time) float64 {
	var total float64
	for i := range u.lines {
		if l := &u.lines[i]; l.projectID == projectID {
			_, c := u.costItems(l, from.Unix(), to.Unix())
			total += c[0] + c[1] + c[2]
		}
	}
	return total
}

// bucketQuery is the part of a usage or costs request that is common to both.
type bucketQuery struct {
	start, end, width int64
	first             int64 // start of the first bucket of this page
	limit             int
	groupBy           []string
	filters           map[string][]string
}

var bucketWidths = map[string]struct {
	secs          int64
	def, maxLimit int
}{
	"1m": {60, 60, 1440},
	"1h": {hourSecs, 24, 168},
	"1d": {24 * hourSecs, 7, 31},
}

func parseBucketQuery(w http.ResponseWriter, q url.Values, now time.Time, costs bool, groups []string, filters []string) (bucketQuery, bool) {
	var bq bucketQuery
	fail := func(param, format string, a ...any) (bucketQuery, bool) {
		badRequest(w, param, format, a...)
		return bucketQuery{}, false
	}
	st, err := strconv.ParseInt(q.Get("start_time"), 10, 64)
	if err != nil {
		return fail("start_time", "Missing or invalid required parameter: 'start_time' (unix seconds).")
	}
	bq.start, bq.end = st, now.Unix()
	if v := q.Get("end_time"); v != "" {
		if bq.end, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fail("end_time", "Invalid 'end_time': %q is not unix seconds.", v)
		}
	}
	if bq.end <= bq.start {
		return fail("end_time", "'end_time' must be after 'start_time'.")
	}
	width := q.Get("bucket_width")
	if width == "" {
		width = "1d"
	}
	bw, ok := bucketWidths[width]
	if !ok || (costs && width != "1d") {
		allowed := "1m, 1h, 1d"
		if costs {
			allowed = "1d"
		}
		return fail("bucket_width", "Invalid 'bucket_width': %q is not one of %s.", width, allowed)
	}
	def, maxLimit := bw.def, bw.maxLimit
	if costs {
		def, maxLimit = 7, 180
	}
	bq.width, bq.limit = bw.secs, def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return fail("limit", "Invalid 'limit': expected an integer between 1 and %d for bucket_width=%s.", maxLimit, width)
		}
		bq.limit = n
	}
	bq.first = bq.start - ((bq.start%bq.width)+bq.width)%bq.width
	if p := q.Get("page"); p != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(p, "pg_"), 10, 64)
		if err != nil || !strings.HasPrefix(p, "pg_") || n < bq.first || (n-bq.first)%bq.width != 0 || n >= bq.end {
			return fail("page", "Invalid 'page' cursor %q for this query.", p)
		}
		bq.first = n
	}
	for _, g := range arrayParam(q, "group_by") {
		if !slices.Contains(groups, g) {
			return fail("group_by", "Invalid 'group_by': %q is not supported by the simulator (supported: %s).", g, strings.Join(groups, ", "))
		}
		if !slices.Contains(bq.groupBy, g) {
			bq.groupBy = append(bq.groupBy, g)
		}
	}
	bq.filters = map[string][]string{}
	for _, f := range filters {
		if v := arrayParam(q, f); len(v) > 0 {
			bq.filters[f] = v
		}
	}
	return bq, true
}

func (bq bucketQuery) keep(name, value string) bool {
	vs, ok := bq.filters[name]
	return !ok || slices.Contains(vs, value)
}

type pageJSON struct {
	Object   string       `json:"object"`
	Data     []bucketJSON `json:"data"`
	HasMore  bool         `json:"has_more"`
	NextPage *string      `json:"next_page"`
}

type bucketJSON struct {
	Object    string           `json:"object"`
	StartTime int64            `json:"start_time"`
	EndTime   int64            `json:"end_time"`
	Results   []map[string]any `json:"results"`
}

// buckets runs fill for each bucket of the page and builds the page envelope.
func (bq bucketQuery) buckets(fill func(from, to int64) []map[string]any) pageJSON {
	out := pageJSON{Object: "page", Data: []bucketJSON{}}
	b := bq.first
	for n := 0; n < bq.limit && b < bq.end; n++ {
		res := fill(max(b, bq.start), min(b+bq.width, bq.end))
		if res == nil {
			res = []map[string]any{}
		}
		out.Data = append(out.Data, bucketJSON{Object: "bucket", StartTime: b, EndTime: b + bq.width, Results: res})
		b += bq.width
	}
	if b < bq.end {
		out.HasMore = true
		out.NextPage = strPtr(fmt.Sprintf("pg_%d", b))
	}
	return out
}

// group is a grouping key; fields not grouped by are empty and rendered as null.
type group struct{ projectID, apiKeyID, model, userID, lineItem string }

func groupOf(groupBy []string, l *usageLine) group {
	var g group
	for _, f := range groupBy {
		switch f {
		case "project_id":
			g.projectID = l.projectID
		case "api_key_id":
			g.apiKeyID = l.keyID
		case "model":
			g.model = l.model
		case "user_id":
			g.userID = l.userID
		}
	}
	return g
}

func cmpGroup(a, b group) int {
	return cmp.Or(cmp.Compare(a.projectID, b.projectID), cmp.Compare(a.apiKeyID, b.apiKeyID),
		cmp.Compare(a.model, b.model), cmp.Compare(a.userID, b.userID), cmp.Compare(a.lineItem, b.lineItem))
}

func nullable(grouped bool, v string) any {
	if !grouped || v == "" {
		return nil
	}
	return v
}

// usageSpec is one usage endpoint as the document describes it (paths
// /organization/usage/<kind>): the group_by values and filters it accepts, and the counters its
// result object carries.
type usageSpec struct {
	groups  []string // group_by values the document lists
	filters []string // array filters the document lists
	result  string   // the result's object value
	fill    func(m map[string]any, t tally)
}

var usageSpecs = map[string]usageSpec{
	KindCompletions: {
		groups:  []string{"project_id", "user_id", "api_key_id", "model", "batch", "service_tier"},
		filters: []string{"project_ids", "user_ids", "api_key_ids", "models"},
		result:  "organization.usage.completions.result",
		fill: func(m map[string]any, t tally) {
			m["input_tokens"], m["output_tokens"] = t.in, t.out
			m["input_cached_tokens"], m["input_audio_tokens"], m["output_audio_tokens"] = 0, 0, 0
			m["batch"], m["service_tier"] = nil, nil
		},
	},
	KindEmbeddings: {
		groups:  []string{"project_id", "user_id", "api_key_id", "model"},
		filters: []string{"project_ids", "user_ids", "api_key_ids", "models"},
		result:  "organization.usage.embeddings.result",
		fill:    func(m map[string]any, t tally) { m["input_tokens"] = t.in },
	},
	KindModerations: {
		groups:  []string{"project_id", "user_id", "api_key_id", "model"},
		filters: []string{"project_ids", "user_ids", "api_key_ids", "models"},
		result:  "organization.usage.moderations.result",
		fill:    func(m map[string]any, t tally) { m["input_tokens"] = t.in },
	},
	KindImages: {
		groups:  []string{"project_id", "user_id", "api_key_id", "model", "size", "source"},
		filters: []string{"project_ids", "user_ids", "api_key_ids", "models"},
		result:  "organization.usage.images.result",
		fill:    func(m map[string]any, t tally) { m["images"], m["size"], m["source"] = t.img, nil, nil },
	},
	KindAudioSpeeches: {
		groups:  []string{"project_id", "user_id", "api_key_id", "model"},
		filters: []string{"project_ids", "user_ids", "api_key_ids", "models"},
		result:  "organization.usage.audio_speeches.result",
		fill:    func(m map[string]any, t tally) { m["characters"] = t.in },
	},
	KindAudioTranscriptions: {
		groups:  []string{"project_id", "user_id", "api_key_id", "model"},
		filters: []string{"project_ids", "user_ids", "api_key_ids", "models"},
		result:  "organization.usage.audio_transcriptions.result",
		fill:    func(m map[string]any, t tally) { m["seconds"] = t.in },
	},
	KindWebSearchCalls: {
		groups:  []string{"project_id", "user_id", "api_key_id", "model", "context_level"},
		filters: []string{"project_ids", "user_ids", "api_key_ids", "models"},
		result:  "organization.usage.web_searches.result",
		fill: func(m map[string]any, t tally) {
			m["num_requests"], m["context_level"] = t.img, nil
		},
	},
	KindFileSearchCalls: {
		groups:  []string{"project_id", "user_id", "api_key_id", "vector_store_id"},
		filters: []string{"project_ids", "user_ids", "api_key_ids"},
		result:  "organization.usage.file_searches.result",
		fill: func(m map[string]any, t tally) {
			m["num_requests"], m["vector_store_id"] = t.img, nil
			delete(m, "num_model_requests")
			delete(m, "model")
		},
	},
	// Vector store storage and code interpreter sessions are reported per project only: the
	// document gives them no api_key_id grouping or filter.
	KindVectorStores: {
		groups:  []string{"project_id"},
		filters: []string{"project_ids"},
		result:  "organization.usage.vector_stores.result",
		fill: func(m map[string]any, t tally) {
			m["usage_bytes"] = t.in
			for _, f := range []string{"num_model_requests", "model", "api_key_id", "user_id"} {
				delete(m, f)
			}
		},
	},
	KindCodeInterpreterSessions: {
		groups:  []string{"project_id"},
		filters: []string{"project_ids"},
		result:  "organization.usage.code_interpreter_sessions.result",
		fill: func(m map[string]any, t tally) {
			m["num_sessions"] = t.img
			for _, f := range []string{"num_model_requests", "model", "api_key_id", "user_id"} {
				delete(m, f)
			}
		},
	},
}

// modelledGroups are the groupings the simulator computes; the document lists more (batch,
// service_tier, size, source, context_level, vector_store_id), which answer 400 here rather than
// a made-up split.
var modelledGroups = []string{"project_id", "api_key_id", "model", "user_id"}

func (s *Server) usageHandler(kind string) http.HandlerFunc {
	spec := usageSpecs[kind]
	var groups []string
	for _, g := range spec.groups {
		if slices.Contains(modelledGroups, g) {
			groups = append(groups, g)
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		bq, ok := parseBucketQuery(w, r.URL.Query(), s.now(), false, groups, spec.filters)
		if !ok {
			return
		}
		grouped := func(f string) bool { return slices.Contains(bq.groupBy, f) }
		u := s.usage
		writeJSON(w, http.StatusOK, bq.buckets(func(from, to int64) []map[string]any {
			sums := map[group]*tally{}
			for i := range u.lines {
				l := &u.lines[i]
				if l.kind != kind || !bq.keep("project_ids", l.projectID) || !bq.keep("api_key_ids", l.keyID) ||
					!bq.keep("models", l.model) || !bq.keep("user_ids", l.userID) {
					continue
				}
				t := u.sum(l, from, to)
				if t.req == 0 {
					continue
				}
				g := groupOf(bq.groupBy, l)
				if sums[g] == nil {
					sums[g] = &tally{}
				}
				sums[g].add(t)
			}
			keys := make([]group, 0, len(sums))
			for g := range sums {
				keys = append(keys, g)
			}
			slices.SortFunc(keys, cmpGroup)
			var res []map[string]any
			for _, g := range keys {
				t := sums[g]
				m := map[string]any{
					"object":             spec.result,
					"num_model_requests": t.req,
					"project_id":         nullable(grouped("project_id"), g.projectID),
					"api_key_id":         nullable(grouped("api_key_id"), g.apiKeyID),
					"model":              nullable(grouped("model"), g.model),
					"user_id":            nullable(grouped("user_id"), g.userID),
				}
				spec.fill(m, *t)
				res = append(res, m)
			}
			return res
		}))
	}
}

var lineItemNames = [3]string{"input_tokens", "output_tokens", "images"}

func (s *Server) costs(w http.ResponseWriter, r *http.Request) {
	bq, ok := parseBucketQuery(w, r.URL.Query(), s.now(), true,
		[]string{"project_id", "api_key_id", "line_item"},
		[]string{"project_ids", "api_key_ids", "line_items"})
	if !ok {
		return
	}
	grouped := func(f string) bool { return slices.Contains(bq.groupBy, f) }
	u := s.usage
	type acc struct {
		usd      float64
		quantity int64
		unit     string
	}
	writeJSON(w, http.StatusOK, bq.buckets(func(from, to int64) []map[string]any {
		sums := map[group]*acc{}
		for i := range u.lines {
			l := &u.lines[i]
			if !bq.keep("project_ids", l.projectID) || !bq.keep("api_key_ids", l.keyID) {
				continue
			}
			t, usd := u.costItems(l, from, to)
			qty := [3]int64{t.in, t.out, t.img}
			for j, name := range lineItemNames {
				if j == 2 && l.kind != KindImages {
					name = l.kind // calls or sessions, counted like images
				}
				item := l.model + ", " + name
				if qty[j] == 0 || !bq.keep("line_items", item) {
					continue
				}
				g := groupOf(bq.groupBy, l)
				g.model, g.userID = "", ""
				if grouped("line_item") {
					g.lineItem = item
				}
				a := sums[g]
				if a == nil {
					a = &acc{unit: "tokens"}
					if j == 2 {
						a.unit = name
					}
					sums[g] = a
				}
				a.usd += usd[j]
				a.quantity += qty[j]
			}
		}
		keys := make([]group, 0, len(sums))
		for g := range sums {
			keys = append(keys, g)
		}
		slices.SortFunc(keys, cmpGroup)
		var res []map[string]any
		for _, g := range keys {
			a := sums[g]
			m := map[string]any{
				"object":        "organization.costs.result",
				"amount":        map[string]any{"value": math.Round(a.usd*1e6) / 1e6, "currency": "usd"},
				"project_id":    nullable(grouped("project_id"), g.projectID),
				"api_key_id":    nullable(grouped("api_key_id"), g.apiKeyID),
				"line_item":     nullable(grouped("line_item"), g.lineItem),
				"quantity":      nil,
				"quantity_unit": nil,
			}
			if grouped("line_item") {
				m["quantity"], m["quantity_unit"] = a.quantity, a.unit
			}
			res = append(res, m)
		}
		return res
	}))
}
