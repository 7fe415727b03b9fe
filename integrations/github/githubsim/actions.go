package githubsim

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (s *Server) handleRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	created, err := parseCreated(q.Get("created"))
	if err != nil {
		s.validationFailed(w, "created", "invalid", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOr404Locked(w, r)
	if rp == nil {
		return
	}
	var runs []*run
	for _, run := range rp.runs {
		if !created(run.CreatedAt) {
			continue
		}
		if v := q.Get("status"); v != "" && v != run.Status && v != run.Conclusion {
			continue
		}
		if v := q.Get("branch"); v != "" && v != run.HeadBranch {
			continue
		}
		if v := q.Get("event"); v != "" && v != run.Event {
			continue
		}
		if v := q.Get("head_sha"); v != "" && v != run.HeadSHA {
			continue
		}
		runs = append(runs, run)
	}
	// Newest first, as github.com lists them.
	slices.SortStableFunc(runs, func(a, b *run) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return compareInt(b.ID, a.ID)
	})
	page, per := pageParam(r), perPage(r)
	lo, hi := pageBounds(page, per, len(runs))
	out := make([]map[string]any, 0, hi-lo)
	for _, run := range runs[lo:hi] {
		out = append(out, s.runJSON(r, rp, run))
	}
	pageLinks(w, r, page, per, len(runs))
	s.writeJSON(w, r, http.StatusOK, map[string]any{"total_count": len(runs), "workflow_runs": out})
}

func (s *Server) runJSON(r *http.Request, rp *repo, run *run) map[string]any {
	full := rp.owner + "/" + rp.name
	u := apiBase(r) + "/repos/" + full + "/actions/runs/" + itoa(run.ID)
	return map[string]any{
		"id":             run.ID,
		"name":           run.Name,
		"node_id":        fmt.Sprintf("WFR_sim%d", run.ID),
		"head_branch":    run.HeadBranch,
		"head_sha":       run.HeadSHA,
		"display_title":  run.Name,
		"run_number":     run.runNumber,
		"run_attempt":    1,
		"event":          run.Event,
		"status":         run.Status,
		"conclusion":     strOrNil(run.Conclusion),
		"workflow_id":    1000 + rp.id,
		"url":            u,
		"html_url":       s.webURL + "/" + full + "/actions/runs/" + itoa(run.ID),
		"created_at":     ts(run.CreatedAt),
		"updated_at":     ts(run.updatedAt),
		"run_started_at": ts(run.CreatedAt),
		"jobs_url":       u + "/jobs",
		"logs_url":       u + "/logs",
		"repository":     map[string]any{"id": rp.id, "name": rp.name, "full_name": full},
	}
}

// parseCreated understands the created qualifier forms the Actions API accepts: a date or
// timestamp, optionally prefixed by >, >=, <, <=, or a range a..b.
func parseCreated(v string) (func(time.Time) bool, error) {
	if v == "" {
		return func(time.Time) bool { return true }, nil
	}
	if a, b, ok := strings.Cut(v, ".."); ok {
		lo, err := parseWhen(a)
		if err != nil {
			return nil, err
		}
		hi, err := parseWhen(b)
		if err != nil {
			return nil, err
		}
		return func(t time.Time) bool { return !t.Before(lo) && !t.After(hi) }, nil
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		if rest, ok := strings.CutPrefix(v, op); ok {
			when, err := parseWhen(rest)
			if err != nil {
				return nil, err
			}
			switch op {
			case ">=":
				return func(t time.Time) bool { return !t.Before(when) }, nil
			case "<=":
				return func(t time.Time) bool { return !t.After(when) }, nil
			case ">":
				return func(t time.Time) bool { return t.After(when) }, nil
			default:
				return func(t time.Time) bool { return t.Before(when) }, nil
			}
		}
	}
	day, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return nil, fmt.Errorf("created %q: want a date, a timestamp or a range", v)
	}
	return func(t time.Time) bool { return !t.Before(day) && t.Before(day.AddDate(0, 0, 1)) }, nil
}

func parseWhen(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("created %q: want a date or an RFC 3339 timestamp", v)
}

// runOr404Locked is the run the path names, or nil after answering 404.
func (s *Server) runOr404Locked(w http.ResponseWriter, r *http.Request) (*repo, *run) {
	return itemOr404Locked(s, w, r, "run_id", func(rp *repo) []*run { return rp.runs }, func(x *run) int64 { return x.ID })
}

// handleRunLogs answers 302 to a one-off zip URL, as github.com answers with a pre-signed
// storage URL; after the logs were deleted it answers 410.
func (s *Server) handleRunLogs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, run := s.runOr404Locked(w, r)
	if run == nil {
		return
	}
	if run.logsDeleted {
		s.writeError(w, http.StatusGone, "The logs for this run have expired and are no longer available.")
		return
	}
	var raw [16]byte
	for i := range raw {
		raw[i] = byte(s.rng.UintN(256))
	}
	tok := fmt.Sprintf("%x", raw)
	s.logTokens[tok] = logRef{repo: repoKey(rp.owner, rp.name), runID: run.ID}
	s.rateHeaders(w, r)
	w.Header().Set("Location", apiBase(r)+"/_sim/logs/"+tok+"?sig=sim")
	w.WriteHeader(http.StatusFound)
}

func (s *Server) handleLogsZip(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ref, ok := s.logTokens[r.PathValue("token")]
	var jobs []Job
	if ok {
		ok = false
		if rp := s.repos[ref.repo]; rp != nil {
			for _, run := range rp.runs {
				if run.ID == ref.runID && !run.logsDeleted {
					jobs, ok = slices.Clone(run.Jobs), true
				}
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		// Blob storage answers in XML, not GitHub JSON.
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code></Error>`))
		return
	}
	body, err := logsZip(jobs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// logsZip lays out one text file per job, named like the top-level files of a real logs zip.
func logsZip(jobs []Job) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, j := range jobs {
		name := strings.NewReplacer("/", "_", "\\", "_").Replace(j.Name)
		f, err := zw.Create(fmt.Sprintf("%d_%s.txt", i, name))
		if err != nil {
			return nil, err
		}
		if _, err := f.Write([]byte(j.Log)); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *Server) handleDeleteRunLogs(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, run := s.runOr404Locked(w, r)
	if run == nil {
		return
	}
	if !run.logsDeleted {
		run.logsDeleted = true
		run.updatedAt = s.now()
	}
	s.rateHeaders(w, r)
	w.WriteHeader(http.StatusNoContent)
}
