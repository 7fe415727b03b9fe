package event_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/respond-sec/respond/internal/event"
)

// A payload survives the trip to the journal's JSON and back, under the keys journals hold.
func TestPayloadRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		payload event.Payload
		keys    []string
	}{
		{event.RunStartedData{Playbook: "p", File: "p.yaml", Source: "name: p", Mode: "real", StartedBy: "oncall",
			Inputs: map[string]any{"n": 3.0}, SecretInputs: map[string]string{"key": "fp"}, DryRun: true},
			[]string{"dry_run", "file", "inputs", "mode", "playbook", "secret_inputs", "source", "started_by"}},
		{event.StepApprovedData{Decision: event.Decision{By: "U1", Via: "slack", At: at}}, []string{"at", "by", "reason", "via"}},
		{event.StepIntentData{Name: "attempt"}, []string{"name"}},
		{event.SlackThreadData{Channel: "C1", TS: "1.2"}, []string{"channel", "ts"}},
		{event.RunFinishedData{Outcome: "failed", Steps: map[string]int{"failed": 1}}, []string{"outcome", "steps"}},
	}
	for _, c := range cases {
		t.Run(string(c.payload.Kind()), func(t *testing.T) {
			e := event.Event{Seq: 1}.With(c.payload)
			line, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back event.Event
			if err := json.Unmarshal(line, &back); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range back.Data {
				keys = append(keys, k)
			}
			if diff := cmp.Diff(c.keys, keys, cmpSorted); diff != "" {
				t.Errorf("wire keys (-want +got):\n%s", diff)
			}
			got, err := decodeAs(c.payload, back)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.payload, got); diff != "" {
				t.Errorf("decoded payload (-want +got):\n%s", diff)
			}
		})
	}
}

var cmpSorted = cmpopts.SortSlices(func(a, b string) bool { return a < b })

func decodeAs(p event.Payload, e event.Event) (event.Payload, error) {
	switch p.(type) {
	case event.RunStartedData:
		return event.Decode[event.RunStartedData](e)
	case event.StepApprovedData:
		return event.Decode[event.StepApprovedData](e)
	case event.StepIntentData:
		return event.Decode[event.StepIntentData](e)
	case event.SlackThreadData:
		return event.Decode[event.SlackThreadData](e)
	case event.RunFinishedData:
		return event.Decode[event.RunFinishedData](e)
	}
	return nil, nil
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		e    event.Event
		want string
	}{
		{"wrong kind", event.Event{Seq: 4, Kind: event.StepLog}, "event 4 is step.log, not run.started"},
		{"field of the wrong type", event.Event{Seq: 1, Kind: event.RunStarted, Data: map[string]any{"mode": 3.0}},
			"event 1 (run.started): data.mode: number where string was expected"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := event.Decode[event.RunStartedData](c.e)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v; want one containing %q", err, c.want)
			}
		})
	}
}
