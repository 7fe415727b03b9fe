package steps

import "gopkg.in/yaml.v3"

// Traits say what the rest of respond needs to know about a kind — what `respond doctor` checks,
// what a rehearsal can verify, where it posts — so that no code outside steps/ names a kind.
// What a kind's results mean to a person (to-do items, report sections) its outputs struct says
// through the optional interfaces below.
type Traits struct {
	// Needs are the credentials and permissions the kind always uses; `respond doctor` checks
	// each read-only.
	Needs []Permission
	// NeedsFor adds what the literal parameters of one step need (a sink that writes a GitHub
	// secret); nil when the parameters change nothing.
	NeedsFor func(with *yaml.Node) []Permission
	// Effects are what the kind changes in the world; a rehearsal verifies each from its
	// simulators' state. A kind that only reads has none.
	Effects []Effect
	// Deliveries reads the destination types (file, github-actions-secret, …) a step that
	// delivers a new key writes to; all=true when a template decides them before the run.
	Deliveries func(with *yaml.Node) (types []string, all bool)
	// SlackChannelParam marks a kind that posts to Slack and names its channel parameter (an
	// empty channel posts in the run's thread).
	SlackChannelParam string
	// RunsPrograms marks a kind that runs a program the playbook names: a rehearsal cannot
	// confine it to the simulators.
	RunsPrograms bool
}

// Permission is one thing a kind does with a credential.
type Permission string

// The permissions kinds declare. Service prefixes group them in doctor's report.
const (
	OpenAIProjects        Permission = "openai:projects.read"
	OpenAIKeys            Permission = "openai:api_keys.read"
	OpenAIRevoke          Permission = "openai:api_keys.delete"
	OpenAIServiceAccounts Permission = "openai:service_accounts.write"
	OpenAIUsage           Permission = "openai:usage.read"
	OpenAICosts           Permission = "openai:costs.read"
	OpenAISpendRead       Permission = "openai:limits.read"
	OpenAISpendWrite      Permission = "openai:limits.write"
	GitHubAlertsRead      Permission = "github:secret_scanning_alerts.read"
	GitHubAlertsWrite     Permission = "github:secret_scanning_alerts.write"
	GitHubCodeSearch      Permission = "github:code_search"
	GitHubLogsRead        Permission = "github:actions_logs.read"
	GitHubLogsDelete      Permission = "github:actions_logs.delete"
	GitHubSecretsWrite    Permission = "github:actions_secrets.write"
	SlackPost             Permission = "slack:chat.write"
)

// Effect is a change a kind makes that the world can be checked for afterwards.
type Effect string

// The effects kinds declare.
const (
	// DeletesKey: the leaked key is deleted, so it is dead and gone from its project.
	DeletesKey Effect = "deletes the leaked key"
	// ProvesKeyDead: the step proves the leaked key no longer works.
	ProvesKeyDead Effect = "proves the leaked key dead"
	// DeliversReplacement: a working, scoped replacement key reaches its destinations.
	DeliversReplacement Effect = "delivers a replacement"
	// TightensBudgets: spend limits and rate limits are lowered.
	TightensBudgets Effect = "tightens budgets"
	// AddsOrgSpendAlerts: the organization has spend alerts.
	AddsOrgSpendAlerts Effect = "adds organization spend alerts"
	// PurgesHistory: no ref of the repositories holds the value any more.
	PurgesHistory Effect = "purges history"
	// PurgesLogs: no Actions run log holds the value any more.
	PurgesLogs Effect = "purges Actions logs"
	// ResolvesAlerts: the value's secret-scanning alerts are resolved as revoked.
	ResolvesAlerts Effect = "resolves alerts"
	// PostsToSlack: messages reach Slack.
	PostsToSlack Effect = "posts to Slack"
)

// What a step's recorded outputs mean to a person. A kind's outputs struct implements the ones
// that apply; readers decode recorded outputs with Kind.DecodeOutputs and assert these.

// ToDoer is implemented by outputs that leave work for a person after the run.
type ToDoer interface {
	ToDo(c ToDoContext) []string
}

// ToDoContext is what a step's to-do items may depend on beyond its own outputs.
type ToDoContext struct {
	// StepID is the step's ID in the playbook.
	StepID string
	// KeyDead is set when some step of the run showed the leaked key no longer works.
	KeyDead bool
}

// KeyDeadShower is implemented by outputs that can show the leaked key no longer works (found
// already revoked, proven dead). A Container's success shows it by itself.
type KeyDeadShower interface {
	KeyDead() bool
}

// UsageTabler is implemented by outputs that carry a usage review's table for the report.
type UsageTabler interface {
	UsageTable() string
}

// LogLine is one line of a log file that holds the leaked value, masked.
type LogLine struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Excerpt string `json:"excerpt"`
}

// LogLiner is implemented by outputs listing log lines that still hold the leaked value.
type LogLiner interface {
	LogLines() []LogLine
}
