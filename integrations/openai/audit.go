package openai

import (
	"context"
	"fmt"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
)

// KeyDeletion is an api_key.deleted event of the organization's audit log: who revoked a key, and
// when. The audit log names the key by its ID only, never by value.
type KeyDeletion struct {
	KeyID     string
	ProjectID string
	At        time.Time
	// By is the person (their email) or the key that made the call.
	By string
}

// KeyDeletions lists api_key.deleted events since the given time, newest first: for one key when
// keyID is set, else every key's (at most limit).
func (c *Client) KeyDeletions(ctx context.Context, keyID string, since time.Time, limit int) ([]KeyDeletion, error) {
	params := sdk.AdminOrganizationAuditLogListParams{
		EventTypes: []string{"api_key.deleted"},
		Limit:      param.NewOpt(int64(min(max(limit, 1), 100))),
	}
	if keyID != "" {
		params.ResourceIDs = []string{keyID}
	}
	if !since.IsZero() {
		params.EffectiveAt.Gte = param.NewOpt(since.Unix())
	}
	page, err := c.sdk.Admin.Organization.AuditLogs.List(ctx, params)
	if err != nil {
		return nil, wrap("list api_key.deleted audit log events", err, false)
	}
	var out []KeyDeletion
	for _, e := range page.Data {
		d := KeyDeletion{KeyID: e.APIKeyDeleted.ID, ProjectID: e.Project.ID, At: time.Unix(e.EffectiveAt, 0).UTC()}
		switch {
		case e.Actor.Session.User.Email != "":
			d.By = e.Actor.Session.User.Email
		case e.Actor.APIKey.User.Email != "":
			d.By = e.Actor.APIKey.User.Email + " (with an API key)"
		case e.Actor.APIKey.ID != "":
			d.By = "API key " + e.Actor.APIKey.ID
		}
		if d.KeyID != "" {
			out = append(out, d)
		}
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// String says who revoked the key and when.
func (d KeyDeletion) String() string {
	by := d.By
	if by == "" {
		by = "someone the audit log does not name"
	}
	return fmt.Sprintf("%s revoked by %s at %s", d.KeyID, by, d.At.Format(time.RFC3339))
}
