package openaisim

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

type enforcementJSON struct {
	Status string `json:"status"`
}

type spendLimitJSON struct {
	Object          string          `json:"object"`
	Currency        string          `json:"currency"`
	Interval        string          `json:"interval"`
	ThresholdAmount *int64          `json:"threshold_amount"`
	Enforcement     enforcementJSON `json:"enforcement"`
}

func (s *Server) spendLimitJSON(projectID string, l *spendLimit) spendLimitJSON {
	status := "inactive"
	now := s.now().UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if s.usage.projectCost(projectID, monthStart, now)*100 >= float64(l.cents) {
		status = "enforcing"
	}
	return spendLimitJSON{Object: "project.spend_limit", Currency: "USD", Interval: "month", ThresholdAmount: &l.cents,
		Enforcement: enforcementJSON{Status: status}}
}

func noSpendLimit(w http.ResponseWriter, projectID string) {
	writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
		fmt.Sprintf("No hard spend limit is set for project %s.", projectID))
}

func (s *Server) getSpendLimit(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	l := s.st.limits[p.id]
	if l == nil && s.unsetLimit200 {
		writeJSON(w, http.StatusOK, spendLimitJSON{Object: "project.spend_limit", Currency: "USD", Interval: "month",
			Enforcement: enforcementJSON{Status: "inactive"}})
		return
	}
	if l == nil {
		noSpendLimit(w, p.id)
		return
	}
	writeJSON(w, http.StatusOK, s.spendLimitJSON(p.id, l))
}

// checkMoney validates the currency/interval/threshold triple shared by limits and alerts.
func checkMoney(w http.ResponseWriter, currency, interval string, amount int64) bool {
	switch {
	case currency != "USD":
		badRequest(w, "currency", "Invalid 'currency': only USD is supported.")
	case interval != "month":
		badRequest(w, "interval", "Invalid 'interval': only month is supported.")
	case amount <= 0:
		badRequest(w, "threshold_amount", "Invalid 'threshold_amount': must be a positive number of cents.")
	default:
		return true
	}
	return false
}

func (s *Server) updateSpendLimit(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	var body struct {
		Currency        string `json:"currency"`
		Interval        string `json:"interval"`
		ThresholdAmount int64  `json:"threshold_amount"`
	}
	if !decodeBody(w, r, &body) || !checkMoney(w, body.Currency, body.Interval, body.ThresholdAmount) {
		return
	}
	l := &spendLimit{cents: body.ThresholdAmount}
	s.st.limits[p.id] = l
	writeJSON(w, http.StatusOK, s.spendLimitJSON(p.id, l))
}

func (s *Server) deleteSpendLimit(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	if s.st.limits[p.id] == nil && s.unsetLimit200 {
		writeJSON(w, http.StatusOK, map[string]any{"object": "project.spend_limit.deleted", "deleted": false})
		return
	}
	if s.st.limits[p.id] == nil {
		noSpendLimit(w, p.id)
		return
	}
	delete(s.st.limits, p.id)
	writeJSON(w, http.StatusOK, map[string]any{"object": "project.spend_limit.deleted", "deleted": true})
}

type notificationJSON struct {
	Type          string   `json:"type"`
	Recipients    []string `json:"recipients"`
	SubjectPrefix *string  `json:"subject_prefix"`
}

type spendAlertJSON struct {
	Object              string           `json:"object"`
	ID                  string           `json:"id"`
	Currency            string           `json:"currency"`
	Interval            string           `json:"interval"`
	ThresholdAmount     int64            `json:"threshold_amount"`
	NotificationChannel notificationJSON `json:"notification_channel"`
}

func alertJSON(a *spendAlert) spendAlertJSON {
	return spendAlertJSON{Object: "project.spend_alert", ID: a.id, Currency: "USD", Interval: "month", ThresholdAmount: a.cents,
		NotificationChannel: notificationJSON{Type: "email", Recipients: slices.Clone(a.recipients), SubjectPrefix: strPtr(a.subjectPrefix)}}
}

func (s *Server) listSpendAlerts(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	var items []spendAlertJSON
	for _, a := range s.st.alerts {
		if a.projectID == p.id {
			items = append(items, alertJSON(a))
		}
	}
	writeAlertPage(w, r, items)
}

// writeAlertPage answers a spend-alert listing, project or organization: order asc|desc, then a
// cursor page (20 by default, 100 at most).
func writeAlertPage(w http.ResponseWriter, r *http.Request, items []spendAlertJSON) {
	switch r.URL.Query().Get("order") {
	case "", "asc":
	case "desc":
		slices.Reverse(items)
	default:
		badRequest(w, "order", "Invalid 'order': expected asc or desc.")
		return
	}
	if env, ok := cursorPage(w, r, items, func(a spendAlertJSON) string { return a.ID }, 20, 100); ok {
		writeJSON(w, http.StatusOK, env)
	}
}

func (s *Server) createSpendAlert(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	a, ok := s.decodeAlert(w, r, p.id)
	if !ok {
		return
	}
	s.st.alerts = append(s.st.alerts, a)
	writeJSON(w, http.StatusOK, alertJSON(a))
}

// decodeAlert reads the document's CreateSpendAlertBody, shared by project and organization
// alerts; projectID is "" for the organization.
func (s *Server) decodeAlert(w http.ResponseWriter, r *http.Request, projectID string) (*spendAlert, bool) {
	var body struct {
		Currency            string `json:"currency"`
		Interval            string `json:"interval"`
		ThresholdAmount     int64  `json:"threshold_amount"`
		NotificationChannel struct {
			Type          string   `json:"type"`
			Recipients    []string `json:"recipients"`
			SubjectPrefix *string  `json:"subject_prefix"`
		} `json:"notification_channel"`
	}
	if !decodeBody(w, r, &body) || !checkMoney(w, body.Currency, body.Interval, body.ThresholdAmount) {
		return nil, false
	}
	nc := body.NotificationChannel
	switch {
	case nc.Type != "email":
		badRequest(w, "notification_channel.type", "Invalid 'notification_channel.type': only email is supported.")
		return nil, false
	case len(nc.Recipients) == 0:
		badRequest(w, "notification_channel.recipients", "Missing required parameter: 'notification_channel.recipients'.")
		return nil, false
	}
	a := &spendAlert{id: s.idSrc.ID("alert_", 16), projectID: projectID, cents: body.ThresholdAmount, recipients: slices.Clone(nc.Recipients)}
	if nc.SubjectPrefix != nil {
		a.subjectPrefix = *nc.SubjectPrefix
	}
	return a, true
}

func (s *Server) findAlert(w http.ResponseWriter, r *http.Request) int {
	p := s.mustProject(w, r)
	if p == nil {
		return -1
	}
	return s.alertIndex(w, r, p.id, fmt.Sprintf(" in project %s", p.id))
}

// alertIndex is the index of the path's alert_id among projectID's alerts ("" for the
// organization's), or -1 after answering 404; where says in which scope it was looked for.
func (s *Server) alertIndex(w http.ResponseWriter, r *http.Request, projectID, where string) int {
	id := r.PathValue("alert_id")
	i := slices.IndexFunc(s.st.alerts, func(a *spendAlert) bool { return a.id == id && a.projectID == projectID })
	if i < 0 {
		kind := "spend alert"
		if projectID == "" {
			kind = "organization spend alert"
		}
		writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "alert_id",
			fmt.Sprintf("No %s found with ID %s%s.", kind, id, where))
	}
	return i
}

// deleteAlertAt removes alert i and answers with its deletion object.
func (s *Server) deleteAlertAt(w http.ResponseWriter, i int, object string) {
	id := s.st.alerts[i].id
	s.st.alerts = slices.Delete(s.st.alerts, i, i+1)
	writeJSON(w, http.StatusOK, map[string]any{"object": object, "id": id, "deleted": true})
}

func (s *Server) getSpendAlert(w http.ResponseWriter, r *http.Request) {
	if i := s.findAlert(w, r); i >= 0 {
		writeJSON(w, http.StatusOK, alertJSON(s.st.alerts[i]))
	}
}

func (s *Server) deleteSpendAlert(w http.ResponseWriter, r *http.Request) {
	if i := s.findAlert(w, r); i >= 0 {
		s.deleteAlertAt(w, i, "project.spend_alert.deleted")
	}
}

type rateLimitJSON struct {
	Object                      string `json:"object"`
	ID                          string `json:"id"`
	Model                       string `json:"model"`
	MaxRequestsPer1Minute       int64  `json:"max_requests_per_1_minute"`
	MaxTokensPer1Minute         int64  `json:"max_tokens_per_1_minute"`
	MaxImagesPer1Minute         int64  `json:"max_images_per_1_minute,omitempty"`
	MaxAudioMegabytesPer1Minute int64  `json:"max_audio_megabytes_per_1_minute,omitempty"`
	MaxRequestsPer1Day          int64  `json:"max_requests_per_1_day,omitempty"`
	Batch1DayMaxInputTokens     int64  `json:"batch_1_day_max_input_tokens,omitempty"`
}

func rlJSON(rl *rateLimit) rateLimitJSON {
	return rateLimitJSON{Object: "project.rate_limit", ID: rl.id, Model: rl.model,
		MaxRequestsPer1Minute: rl.reqPerMin, MaxTokensPer1Minute: rl.tokPerMin, MaxImagesPer1Minute: rl.imgPerMin,
		MaxAudioMegabytesPer1Minute: rl.audioMBPerMin, MaxRequestsPer1Day: rl.reqPerDay, Batch1DayMaxInputTokens: rl.batchInDay}
}

func (s *Server) listRateLimits(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	var items []rateLimitJSON
	for _, rl := range s.st.rates {
		if rl.projectID == p.id {
			items = append(items, rlJSON(rl))
		}
	}
	if env, ok := cursorPage(w, r, items, func(rl rateLimitJSON) string { return rl.ID }, 100, 100); ok {
		writeJSON(w, http.StatusOK, env)
	}
}

func (s *Server) updateRateLimit(w http.ResponseWriter, r *http.Request) {
	p := s.mustProject(w, r)
	if p == nil {
		return
	}
	id := r.PathValue("rate_limit_id")
	i := slices.IndexFunc(s.st.rates, func(rl *rateLimit) bool { return rl.id == id && rl.projectID == p.id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "rate_limit_id",
			fmt.Sprintf("No rate limit found with ID %s in project %s.", id, p.id))
		return
	}
	var body struct {
		MaxRequestsPer1Minute       *int64 `json:"max_requests_per_1_minute"`
		MaxTokensPer1Minute         *int64 `json:"max_tokens_per_1_minute"`
		MaxImagesPer1Minute         *int64 `json:"max_images_per_1_minute"`
		MaxAudioMegabytesPer1Minute *int64 `json:"max_audio_megabytes_per_1_minute"`
		MaxRequestsPer1Day          *int64 `json:"max_requests_per_1_day"`
		Batch1DayMaxInputTokens     *int64 `json:"batch_1_day_max_input_tokens"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	fields := []struct {
		name string
		src  *int64
	}{
		{"max_requests_per_1_minute", body.MaxRequestsPer1Minute},
		{"max_tokens_per_1_minute", body.MaxTokensPer1Minute},
		{"max_images_per_1_minute", body.MaxImagesPer1Minute},
		{"max_audio_megabytes_per_1_minute", body.MaxAudioMegabytesPer1Minute},
		{"max_requests_per_1_day", body.MaxRequestsPer1Day},
		{"batch_1_day_max_input_tokens", body.Batch1DayMaxInputTokens},
	}
	for _, f := range fields {
		if f.src != nil && *f.src <= 0 {
			badRequest(w, f.name, "Invalid '%s': must be a positive integer.", f.name)
			return
		}
	}
	rl := s.st.rates[i]
	dsts := []*int64{&rl.reqPerMin, &rl.tokPerMin, &rl.imgPerMin, &rl.audioMBPerMin, &rl.reqPerDay, &rl.batchInDay}
	for j, f := range fields {
		if f.src != nil {
			*dsts[j] = *f.src
		}
	}
	writeJSON(w, http.StatusOK, rlJSON(rl))
}
