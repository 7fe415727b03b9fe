package openaisim

import (
	"net/http"
	"time"
)

// Organization-level budgets: GET/POST/DELETE /organization/spend_limit and the
// /organization/spend_alerts collection (document operations Getorganizationspendlimit,
// Updateorganizationspendlimit, Deleteorganizationspendlimit, list-/create-/retrieve-/
// delete-organization-spend-alert). Organization alerts live in state.alerts with an empty
// project ID, which no project has.

func (s *Server) orgLimitJSON(l *spendLimit) spendLimitJSON {
	status := "inactive"
	now := s.now().UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var spent float64
	for _, p := range s.st.projects {
		spent += s.usage.projectCost(p.id, monthStart, now)
	}
	if spent*100 >= float64(l.cents) {
		status = "enforcing"
	}
	return spendLimitJSON{Object: "organization.spend_limit", Currency: "USD", Interval: "month", ThresholdAmount: &l.cents,
		Enforcement: enforcementJSON{Status: status}}
}

func noOrgSpendLimit(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
		"No hard spend limit is set for this organization.")
}

func (s *Server) getOrgSpendLimit(w http.ResponseWriter, _ *http.Request) {
	switch {
	case s.st.orgLimit == nil && s.unsetLimit200:
		writeJSON(w, http.StatusOK, spendLimitJSON{Object: "organization.spend_limit", Currency: "USD", Interval: "month",
			Enforcement: enforcementJSON{Status: "inactive"}})
	case s.st.orgLimit == nil:
		noOrgSpendLimit(w)
	default:
		writeJSON(w, http.StatusOK, s.orgLimitJSON(s.st.orgLimit))
	}
}

func (s *Server) updateOrgSpendLimit(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Currency        string `json:"currency"`
		Interval        string `json:"interval"`
		ThresholdAmount int64  `json:"threshold_amount"`
	}
	if !decodeBody(w, r, &body) || !checkMoney(w, body.Currency, body.Interval, body.ThresholdAmount) {
		return
	}
	s.st.orgLimit = &spendLimit{cents: body.ThresholdAmount}
	writeJSON(w, http.StatusOK, s.orgLimitJSON(s.st.orgLimit))
}

func (s *Server) deleteOrgSpendLimit(w http.ResponseWriter, _ *http.Request) {
	switch {
	case s.st.orgLimit == nil && s.unsetLimit200:
		writeJSON(w, http.StatusOK, map[string]any{"object": "organization.spend_limit.deleted", "deleted": false})
	case s.st.orgLimit == nil:
		noOrgSpendLimit(w)
	default:
		s.st.orgLimit = nil
		writeJSON(w, http.StatusOK, map[string]any{"object": "organization.spend_limit.deleted", "deleted": true})
	}
}

func orgAlertJSON(a *spendAlert) spendAlertJSON {
	out := alertJSON(a)
	out.Object = "organization.spend_alert"
	return out
}

func (s *Server) listOrgSpendAlerts(w http.ResponseWriter, r *http.Request) {
	var items []spendAlertJSON
	for _, a := range s.st.alerts {
		if a.projectID == "" {
			items = append(items, orgAlertJSON(a))
		}
	}
	writeAlertPage(w, r, items)
}

func (s *Server) createOrgSpendAlert(w http.ResponseWriter, r *http.Request) {
	a, ok := s.decodeAlert(w, r, "")
	if !ok {
		return
	}
	s.st.alerts = append(s.st.alerts, a)
	writeJSON(w, http.StatusOK, orgAlertJSON(a))
}

func (s *Server) findOrgAlert(w http.ResponseWriter, r *http.Request) int {
	return s.alertIndex(w, r, "", "")
}

func (s *Server) getOrgSpendAlert(w http.ResponseWriter, r *http.Request) {
	if i := s.findOrgAlert(w, r); i >= 0 {
		writeJSON(w, http.StatusOK, orgAlertJSON(s.st.alerts[i]))
	}
}

func (s *Server) deleteOrgSpendAlert(w http.ResponseWriter, r *http.Request) {
	if i := s.findOrgAlert(w, r); i >= 0 {
		s.deleteAlertAt(w, i, "organization.spend_alert.deleted")
	}
}
