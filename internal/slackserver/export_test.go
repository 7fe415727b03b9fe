package slackserver

import (
	"time"

	"github.com/slack-go/slack/socketmode"
)

// WaitBackground waits for the follow-ups and Slack calls the server started in the background.
func (s *Server) WaitBackground() {
	s.bg.Wait()
	s.approvals.Wait()
}

// Acker is what DispatchSocket acknowledges envelopes with.
type Acker = acker

// DispatchSocket handles one Socket Mode event as ServeSocketMode does.
func (s *Server) DispatchSocket(evt socketmode.Event, ack Acker) { s.dispatchSocket(evt, ack) }

// SetLastGasp shortens how long Shutdown waits for runs it cancelled outright.
func (rs *Runs) SetLastGasp(d time.Duration) { rs.lastGasp = d }

// ForgetReplays empties the replay cache (fuzzing signs many requests in the same second).
func (s *Server) ForgetReplays() { s.seen = newReplayCache(maxSeen) }

// AgeForms makes the pending one-time forms d older.
func (s *Server) AgeForms(d time.Duration) {
	s.forms.mu.Lock()
	defer s.forms.mu.Unlock()
	for _, p := range s.forms.pending {
		p.expires = p.expires.Add(-d)
	}
}
