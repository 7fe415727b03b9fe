package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Project is an organisation project.
type Project struct {
	ID        string
	Name      string
	Status    string // active or archived
	CreatedAt time.Time
}

// ProjectKey is a project API key as the admin API shows it (never its value).
type ProjectKey struct {
	ID            string
	ProjectID     string
	Name          string
	RedactedValue string // e.g. "sk-proj-...abcd"; format not documented by OpenAI
	CreatedAt     time.Time
	LastUsedAt    time.Time // zero: never used
	ExpiresAt     time.Time // zero: never expires
	// OwnerType is "user" or "service_account"; OwnerID, OwnerName and OwnerEmail (users only)
	// describe that owner.
	OwnerType  string
	OwnerID    string
	OwnerName  string
	OwnerEmail string
	// OwnerRole is the owner's role in the project (owner, member; none for a service account
	// created without one).
	OwnerRole string
	// OwnerProjectAccess is "active", or "inactive" when the owner no longer has access to the
	// project (the key still exists and may still work).
	OwnerProjectAccess string
}

// Owner types of a ProjectKey.
const (
	OwnerUser           = "user"
	OwnerServiceAccount = "service_account"
)

func projectFromSDK(p sdk.Project) Project {
	return Project{ID: p.ID, Name: p.Name, Status: p.Status, CreatedAt: unixTime(p.CreatedAt)}
}

func keyFromSDK(projectID string, k sdk.ProjectAPIKey) ProjectKey {
	out := ProjectKey{
		ID: k.ID, ProjectID: projectID, Name: k.Name, RedactedValue: k.RedactedValue,
		CreatedAt: unixTime(k.CreatedAt), LastUsedAt: unixTime(k.LastUsedAt), ExpiresAt: unixTime(k.ExpiresAt),
		OwnerType: k.Owner.Type, OwnerProjectAccess: string(k.OwnerProjectAccess),
	}
	switch k.Owner.Type {
	case OwnerUser:
		out.OwnerID, out.OwnerName, out.OwnerEmail = k.Owner.User.ID, k.Owner.User.Name, k.Owner.User.Email
		out.OwnerRole = k.Owner.User.Role
	case OwnerServiceAccount:
		out.OwnerID, out.OwnerName, out.OwnerRole = k.Owner.ServiceAccount.ID, k.Owner.ServiceAccount.Name, k.Owner.ServiceAccount.Role
	}
	return out
}

// ListProjects returns every active (not archived) project, all pages.
func (c *Client) ListProjects(ctx context.Context) ([]Project, error) {
	var out []Project
	it := c.sdk.Admin.Organization.Projects.ListAutoPaging(ctx, sdk.AdminOrganizationProjectListParams{Limit: sdk.Int(c.pageSize)})
	for it.Next() {
		out = append(out, projectFromSDK(it.Current()))
	}
	if err := it.Err(); err != nil {
		return nil, wrap("list projects", err, false)
	}
	return out, nil
}

// ListProjectKeys returns every key of a project, all pages, including keys whose owner lost
// access to the project (owner_project_access=any): a leaked key of a departed employee must
// still be found.
func (c *Client) ListProjectKeys(ctx context.Context, projectID string) ([]ProjectKey, error) {
	var out []ProjectKey
	it := c.sdk.Admin.Organization.Projects.APIKeys.ListAutoPaging(ctx, projectID, sdk.AdminOrganizationProjectAPIKeyListParams{
		Limit:              sdk.Int(c.pageSize),
		OwnerProjectAccess: sdk.AdminOrganizationProjectAPIKeyListParamsOwnerProjectAccessAny,
	})
	for it.Next() {
		out = append(out, keyFromSDK(projectID, it.Current()))
	}
	if err := it.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("list keys of project %s", projectID), err, false)
	}
	return out, nil
}

// GetProjectKey fetches one key; IsNotFound(err) when it does not exist (or was deleted).
func (c *Client) GetProjectKey(ctx context.Context, projectID, keyID string) (ProjectKey, error) {
	k, err := c.sdk.Admin.Organization.Projects.APIKeys.Get(ctx, projectID, keyID)
	if err != nil {
		return ProjectKey{}, wrap(fmt.Sprintf("get key %s in project %s", keyID, projectID), err, false)
	}
	return keyFromSDK(projectID, *k), nil
}

// DeleteProjectKey revokes a key. A 404 means it is already gone (deleted earlier, or by an
// earlier attempt whose answer was lost): (true, nil).
func (c *Client) DeleteProjectKey(ctx context.Context, projectID, keyID string) (alreadyGone bool, err error) {
	if projectID == "" || keyID == "" {
		return false, errors.New("delete project key: project and key IDs are required")
	}
	_, err = c.sdk.Admin.Organization.Projects.APIKeys.Delete(ctx, projectID, keyID)
	err = wrap(fmt.Sprintf("delete key %s in project %s", keyID, projectID), err, true)
	if IsNotFound(err) {
		return true, nil
	}
	return false, err
}

// KeyCheck is what GET /v1/models answered when called with a key's own value.
type KeyCheck struct {
	// Status is the HTTP status: 200 the key works; 401 or 403 see Code.
	Status int
	// Code and Message are the API's error code and text (empty on 200).
	Code    string
	Message string
}

// IsKeyID reports whether s is an API key's ID (key_…) rather than its value. IDs are not secrets:
// they are never masked, and a step given only an ID cannot search for copies of the value. This
// is the one place that rule lives.
func IsKeyID(s string) bool {
	rest, ok := strings.CutPrefix(s, "key_")
	if !ok || rest == "" {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// CodeInvalidAPIKey is the only error code that says a key does not exist (revoked, expired or
// never issued). Live keys get other 401s too: mismatched_organization for a wrong
// OpenAI-Organization header, and missing-scope or insufficient-permission answers for restricted
// keys (OpenAI error-codes guide; openai-go v3.98.0 error docs; README "Verified against").
const CodeInvalidAPIKey = "invalid_api_key"

// Dead reports whether the answer proves the key is dead: 401 with code invalid_api_key, and
// nothing else.
func (k KeyCheck) Dead() bool {
	return k.Status == http.StatusUnauthorized && k.Code == CodeInvalidAPIKey
}

// Works reports whether the key was accepted (200).
func (k KeyCheck) Works() bool { return k.Status == http.StatusOK }

// String names the status and, when there is one, the code ("401 invalid_api_key").
func (k KeyCheck) String() string {
	s := strconv.Itoa(k.Status)
	switch {
	case k.Code != "":
		s += " " + k.Code
	case k.Status >= 400:
		s += " (no error code)"
	}
	return s
}

// keyCheckHeaders are dropped from every key check. The SDK adds them from OPENAI_ORG_ID and
// OPENAI_PROJECT_ID, which many engineers have set; with them a dead key can answer
// mismatched_organization and a live one can be refused for the wrong project, and neither says
// anything about the key.
var keyCheckHeaders = []string{"OpenAI-Organization", "OpenAI-Project"}

// CheckKey calls GET /v1/models authenticated with secret (not the admin key), without any
// organization or project header, and reports the answer. err is set only when the answer says
// nothing about the key: transport failures, 408, 429 and 5xx (all Transient).
func (c *Client) CheckKey(ctx context.Context, secret string) (KeyCheck, error) {
	if secret == "" {
		return KeyCheck{}, errors.New("check key: empty secret")
	}
	opts := []option.RequestOption{option.WithAPIKey(secret)}
	for _, h := range keyCheckHeaders {
		opts = append(opts, option.WithHeaderDel(h))
	}
	var raw *http.Response
	opts = append(opts, option.WithResponseInto(&raw))
	_, err := c.sdk.Models.List(ctx, opts...)
	if err == nil {
		if raw != nil {
			return KeyCheck{Status: raw.StatusCode}, nil
		}
		return KeyCheck{Status: http.StatusOK}, nil
	}
	werr := wrap("check key", err, false)
	var e *Error
	if errors.As(werr, &e) && e.StatusCode != 0 && !e.Transient() {
		return KeyCheck{Status: e.StatusCode, Code: e.Code, Message: e.Message}, nil
	}
	return KeyCheck{Status: statusOf(werr)}, werr
}

// FindKeysByName returns the keys of a project owned by service account saID with exactly that
// name. After a create whose answer was lost, it tells whether the key exists (one match) or
// not (none) before anything is created again.
func (c *Client) FindKeysByName(ctx context.Context, projectID, saID, name string) ([]ProjectKey, error) {
	keys, err := c.ListProjectKeys(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("find keys named %q of service account %s: %w", name, saID, err)
	}
	var out []ProjectKey
	for _, k := range keys {
		if k.OwnerType == OwnerServiceAccount && k.OwnerID == saID && k.Name == name {
			out = append(out, k)
		}
	}
	return out, nil
}
