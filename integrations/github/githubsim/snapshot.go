package githubsim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
)

// The snapshot types fix the field order; every slice is sorted, so equal states give equal
// bytes.
type snapWorld struct {
	Repos []snapRepo `json:"repos"`
	Orgs  []snapOrg  `json:"orgs"`
}

type snapRepo struct {
	Name         string       `json:"name"`
	ID           int64        `json:"id"`
	Files        []snapFile   `json:"files"`
	Alerts       []snapAlert  `json:"alerts"`
	Runs         []snapRun    `json:"runs"`
	Secrets      []snapSecret `json:"secrets"`
	Environments []snapEnv    `json:"environments"`
}

type snapFile struct {
	Path string `json:"path"`
	SHA  string `json:"sha"`
}

type snapAlert struct {
	Number            int64  `json:"number"`
	State             string `json:"state"`
	Resolution        string `json:"resolution,omitempty"`
	ResolutionComment string `json:"resolution_comment,omitempty"`
	ResolvedAt        string `json:"resolved_at,omitempty"`
}

type snapRun struct {
	ID   int64 `json:"id"`
	Logs bool  `json:"logs"`
}

type snapEnv struct {
	Name    string       `json:"name"`
	Secrets []snapSecret `json:"secrets"`
}

type snapOrg struct {
	Login   string       `json:"login"`
	Secrets []snapSecret `json:"secrets"`
}

// snapSecret holds a fingerprint of the value, never the value: snapshots end up in reports.
type snapSecret struct {
	Name        string  `json:"name"`
	SHA256      string  `json:"sha256"`
	Visibility  string  `json:"visibility,omitempty"`
	SelectedIDs []int64 `json:"selected_repository_ids,omitempty"`
	UpdatedAt   string  `json:"updated_at"`
}

// Snapshot returns the mutable state as deterministic JSON (request counters excluded), so a
// test or rehearsal can prove a dry run changed nothing by comparing two snapshots.
func (s *Server) Snapshot() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var w snapWorld
	for _, rp := range s.sortedReposLocked() {
		sr := snapRepo{Name: rp.owner + "/" + rp.name, ID: rp.id, Secrets: snapSecrets(rp.secrets)}
		for _, f := range rp.files {
			sr.Files = append(sr.Files, snapFile{Path: f.path, SHA: f.sha})
		}
		alerts := slices.Clone(rp.alerts)
		slices.SortFunc(alerts, func(a, b *alert) int { return compareInt(a.Number, b.Number) })
		for _, a := range alerts {
			sa := snapAlert{Number: a.Number, State: a.State, Resolution: a.Resolution, ResolutionComment: a.ResolutionComment}
			if !a.ResolvedAt.IsZero() {
				sa.ResolvedAt = ts(a.ResolvedAt)
			}
			sr.Alerts = append(sr.Alerts, sa)
		}
		runs := slices.Clone(rp.runs)
		slices.SortFunc(runs, func(a, b *run) int { return compareInt(a.ID, b.ID) })
		for _, r := range runs {
			sr.Runs = append(sr.Runs, snapRun{ID: r.ID, Logs: !r.logsDeleted})
		}
		for _, e := range rp.envs {
			sr.Environments = append(sr.Environments, snapEnv{Name: e.name, Secrets: snapSecrets(e.secrets)})
		}
		slices.SortFunc(sr.Environments, func(a, b snapEnv) int { return strings.Compare(a.Name, b.Name) })
		w.Repos = append(w.Repos, sr)
	}
	for _, o := range s.orgs {
		w.Orgs = append(w.Orgs, snapOrg{Login: o.login, Secrets: snapSecrets(o.secrets)})
	}
	slices.SortFunc(w.Orgs, func(a, b snapOrg) int { return strings.Compare(a.Login, b.Login) })
	out, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		panic("githubsim: snapshot: " + err.Error()) // plain structs always marshal
	}
	return out
}

func snapSecrets(m map[string]*secret) []snapSecret {
	out := []snapSecret{}
	for _, sec := range m {
		sum := sha256.Sum256(sec.value)
		out = append(out, snapSecret{
			Name: sec.name, SHA256: hex.EncodeToString(sum[:]), Visibility: sec.visibility,
			SelectedIDs: slices.Clone(sec.selected), UpdatedAt: ts(sec.updated),
		})
	}
	slices.SortFunc(out, func(a, b snapSecret) int { return strings.Compare(a.Name, b.Name) })
	return out
}
