package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	sdk "github.com/openai/openai-go/v3"
)

// ServiceAccount is a project service account.
type ServiceAccount struct {
	ID        string
	ProjectID string
	Name      string
	Role      string // member, owner, or none (created with create_service_account_only)
	CreatedAt time.Time
}

// NewKey is a freshly minted key. Value is the secret, returned by the API exactly once: hand it
// to its sinks and drop it. Printing a NewKey with fmt or slog masks Value.
type NewKey struct {
	ID        string
	Name      string
	Value     string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never expires
}

// String masks the value so an accidental %v never prints the secret.
func (k NewKey) String() string {
	return fmt.Sprintf("NewKey{ID:%s Name:%q Value:%s CreatedAt:%s ExpiresAt:%s}", k.ID, k.Name, mask(k.Value),
		k.CreatedAt.Format(time.RFC3339), k.ExpiresAt.Format(time.RFC3339))
}

// GoString masks the value for %#v too.
func (k NewKey) GoString() string { return k.String() }

// LogValue masks the value for slog.
func (k NewKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("name", k.Name), slog.String("value", mask(k.Value)))
}

// mask keeps the prefix up to the first 8 characters and the last 4 only when the value is long
// enough for that to reveal nothing useful.
func mask(v string) string {
	if len(v) < 24 {
		return "[redacted]"
	}
	return v[:8] + "…" + v[len(v)-4:]
}

func saFromSDK(projectID string, sa sdk.ProjectServiceAccount) ServiceAccount {
	return ServiceAccount{ID: sa.ID, ProjectID: projectID, Name: sa.Name, Role: string(sa.Role), CreatedAt: unixTime(sa.CreatedAt)}
}

// FindServiceAccount returns the project's service account with exactly this name, or nil, nil
// when there is none. With several of that name, the oldest wins.
func (c *Client) FindServiceAccount(ctx context.Context, projectID, name string) (*ServiceAccount, error) {
	var found *ServiceAccount
	it := c.sdk.Admin.Organization.Projects.ServiceAccounts.ListAutoPaging(ctx, projectID,
		sdk.AdminOrganizationProjectServiceAccountListParams{Limit: sdk.Int(c.pageSize)})
	for it.Next() {
		sa := saFromSDK(projectID, it.Current())
		if sa.Name == name && (found == nil || sa.CreatedAt.Before(found.CreatedAt)) {
			found = &sa
		}
	}
	if err := it.Err(); err != nil {
		return nil, wrap(fmt.Sprintf("find service account %q in project %s", name, projectID), err, false)
	}
	return found, nil
}

// CreateServiceAccount creates a service account with no key and no default role
// (create_service_account_only): its keys are minted separately with explicit scopes. Sent once,
// never retried; on an *Error with OutcomeUnknown, reconcile with FindServiceAccount.
func (c *Client) CreateServiceAccount(ctx context.Context, projectID, name string) (ServiceAccount, error) {
	if name == "" {
		return ServiceAccount{}, errors.New("create service account: empty name")
	}
	op := fmt.Sprintf("create service account %q in project %s", name, projectID)
	res, err := c.sdk.Admin.Organization.Projects.ServiceAccounts.New(ctx, projectID,
		sdk.AdminOrganizationProjectServiceAccountNewParams{Name: name, CreateServiceAccountOnly: sdk.Bool(true)}, noRetry)
	if err != nil {
		return ServiceAccount{}, wrap(op, err, true)
	}
	return ServiceAccount{ID: res.ID, ProjectID: projectID, Name: res.Name, Role: string(res.Role), CreatedAt: unixTime(res.CreatedAt)}, nil
}

// ErrNoScopes is returned when a key would be created without scopes: the API reads a missing
// or empty scope list as all permissions, which a replacement key must never get by accident.
var ErrNoScopes = errors.New("refusing to create a key without scopes: the API treats an empty list as all permissions")

// CreateServiceAccountKey mints a key for a service account with explicit scopes and, when
// expiresIn > 0, an expiry (whole seconds; the API counts from its receipt of the request).
// Sent once, never retried; on an *Error with OutcomeUnknown, reconcile with FindKeysByName.
func (c *Client) CreateServiceAccountKey(ctx context.Context, projectID, saID, name string, scopes []string, expiresIn time.Duration) (NewKey, error) {
	op := fmt.Sprintf("create key %q for service account %s in project %s", name, saID, projectID)
	if len(scopes) == 0 {
		return NewKey{}, fmt.Errorf("%s: %w", op, ErrNoScopes)
	}
	for _, s := range scopes {
		if s == "" {
			return NewKey{}, fmt.Errorf("%s: empty scope in %q", op, scopes)
		}
	}
	if expiresIn < 0 || (expiresIn > 0 && expiresIn < time.Second) {
		return NewKey{}, fmt.Errorf("%s: expiry %s must be 0 (never) or at least 1s", op, expiresIn)
	}
	params := sdk.AdminOrganizationProjectServiceAccountAPIKeyNewParams{Scopes: append([]string(nil), scopes...)}
	if name != "" {
		params.Name = sdk.String(name)
	}
	if expiresIn > 0 {
		params.ExpiresInSeconds = sdk.Int(int64(expiresIn / time.Second))
	}
	res, err := c.sdk.Admin.Organization.Projects.ServiceAccounts.APIKeys.New(ctx, projectID, saID, params, noRetry)
	if err != nil {
		return NewKey{}, wrap(op, err, true)
	}
	return NewKey{ID: res.ID, Name: res.Name, Value: res.Value, CreatedAt: unixTime(res.CreatedAt), ExpiresAt: unixTime(res.ExpiresAt)}, nil
}

// Service-account roles that give the account's keys access to the project. An account created
// with create_service_account_only has role "none": its keys are limited by their scopes AND by
// the owner's access, so they can do nothing until the account gets one of these
// (openai-go v3.98.0 adminorganizationprojectserviceaccount.go; document schema
// ProjectServiceAccountCreateResponse.role).
const (
	RoleMember = "member"
	RoleOwner  = "owner"
	RoleNone   = "none"
)

// SetServiceAccountRole gives a service account a project role (member or owner). Setting a role
// is idempotent, so SDK retries are kept.
func (c *Client) SetServiceAccountRole(ctx context.Context, projectID, saID, role string) (ServiceAccount, error) {
	op := fmt.Sprintf("give service account %s in project %s the role %q", saID, projectID, role)
	if role != RoleMember && role != RoleOwner {
		return ServiceAccount{}, fmt.Errorf("%s: the API accepts only %q or %q", op, RoleMember, RoleOwner)
	}
	sa, err := c.sdk.Admin.Organization.Projects.ServiceAccounts.Update(ctx, projectID, saID,
		sdk.AdminOrganizationProjectServiceAccountUpdateParams{Role: sdk.AdminOrganizationProjectServiceAccountUpdateParamsRole(role)})
	if err != nil {
		return ServiceAccount{}, wrap(op, err, true)
	}
	return saFromSDK(projectID, *sa), nil
}

// DeleteServiceAccount deletes a service account and, with it, every key it owns. A 404 means
// it is already gone: (true, nil).
func (c *Client) DeleteServiceAccount(ctx context.Context, projectID, saID string) (alreadyGone bool, err error) {
	if projectID == "" || saID == "" {
		return false, errors.New("delete service account: project and service account IDs are required")
	}
	_, err = c.sdk.Admin.Organization.Projects.ServiceAccounts.Delete(ctx, projectID, saID)
	err = wrap(fmt.Sprintf("delete service account %s in project %s", saID, projectID), err, true)
	if IsNotFound(err) {
		return true, nil
	}
	return false, err
}

// ServiceAccountKeys returns the live keys of a project owned by service account saID.
func (c *Client) ServiceAccountKeys(ctx context.Context, projectID, saID string) ([]ProjectKey, error) {
	keys, err := c.ListProjectKeys(ctx, projectID)
	if err != nil {
		return nil, fmt.Errorf("list keys of service account %s: %w", saID, err)
	}
	var out []ProjectKey
	for _, k := range keys {
		if k.OwnerType == OwnerServiceAccount && k.OwnerID == saID {
			out = append(out, k)
		}
	}
	return out, nil
}
