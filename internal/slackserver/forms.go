package slackserver

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The one-time form: a Slack-started run that needs a secret nobody may type into Slack gets an
// ephemeral link, for the person who asked only, to a page this server serves. The value goes
// from that page straight into the run: registered for masking on arrival, never logged, never
// echoed, never stored but in the run's memory.
const (
	// formTTL is how long a link stays usable.
	formTTL = 10 * time.Minute
	// formTokenBytes is the link's entropy: 256 bits.
	formTokenBytes = 32
	// maxForms bounds the pending forms; more are refused rather than evicting live ones.
	maxForms    = 1000
	maxFormBody = 64 << 10
)

// pendingForm is a run waiting for its secret inputs.
type pendingForm struct {
	req         RunRequest
	missing     []string
	responseURL string
	expires     time.Time
}

type forms struct {
	mu      sync.Mutex
	pending map[string]*pendingForm
}

// add stores f under a new token, or returns "" when too many forms are pending.
func (fs *forms) add(f *pendingForm, now time.Time) string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for tok, p := range fs.pending {
		if !now.Before(p.expires) {
			delete(fs.pending, tok)
		}
	}
	if len(fs.pending) >= maxForms {
		return ""
	}
	var b [formTokenBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	fs.pending[tok] = f
	return tok
}

// peek returns the live form of tok without using it up: link previews fetch the page too.
func (fs *forms) peek(tok string, now time.Time) *pendingForm {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if p := fs.pending[tok]; p != nil && now.Before(p.expires) {
		return p
	}
	return nil
}

// take uses tok up: whatever happens next, it never works again.
func (fs *forms) take(tok string, now time.Time) *pendingForm {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	p := fs.pending[tok]
	delete(fs.pending, tok)
	if p == nil || !now.Before(p.expires) {
		return nil
	}
	return p
}

// offerForm answers a run command that lacks secret inputs: with a one-time link when the server
// has a public URL, otherwise with how to give them.
func (s *Server) offerForm(req RunRequest, missing []string, responseURL string) string {
	if s.o.PublicURL == "" {
		return ":no_entry: Missing required secret " + plural(len(missing), "input") + ": " + codeList(missing) + ". " +
			"Secrets cannot be typed into Slack: name the GitHub alert that found the key (`key=github-alert:OWNER/REPO#N`) " +
			"or the key's ID (`key=key_…`). Nothing was started."
	}
	tok := s.forms.add(&pendingForm{req: req, missing: missing, responseURL: responseURL, expires: time.Now().Add(formTTL)}, time.Now())
	if tok == "" {
		s.logf("refused a form for %s: too many pending", req.User)
		return ":x: Too many forms are waiting; try again in a few minutes. Nothing was started."
	}
	s.logf("offered %s a one-time form for %s of %s", req.User, strings.Join(missing, ", "), req.Playbook)
	return fmt.Sprintf(":lock: `%s` needs %s, which cannot be typed into Slack. Give it on this one-time page, "+
		"for you only, valid for 10 minutes: %s/form/%s\nThe run starts when you submit it.",
		esc(req.Playbook), codeList(missing), s.o.PublicURL, tok)
}

var formPage = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>respond: {{.Playbook}}</title></head>
<body>
<h1>{{.Playbook}}</h1>
{{if .Message}}<p><strong>{{.Message}}</strong></p>{{end}}
{{if .Fields}}<p>Started from Slack by {{.User}}. What you enter goes straight into the run: it is not stored, logged or shown anywhere.
This page works once.</p>
<form method="post" action="{{.Action}}" autocomplete="off">
{{range .Fields}}<p><label for="{{.}}">{{.}}</label><br>
<input type="password" id="{{.}}" name="{{.}}" required autocomplete="off" spellcheck="false" size="60"></p>
{{end}}<p><button type="submit">Start the run</button></p>
</form>{{end}}
</body></html>
`))

type formView struct {
	Playbook, User, Action, Message string
	Fields                          []string
}

// writePage answers with a page that no cache keeps, no other site frames, and that runs no script.
func writePage(w http.ResponseWriter, status int, v formView) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = formPage.Execute(w, v)
}

func (s *Server) serveFormPage(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	p := s.forms.peek(tok, time.Now())
	if p == nil {
		writePage(w, http.StatusNotFound, formView{Playbook: "respond", Message: "This link is used up or has expired. Ask for a new one in Slack."})
		return
	}
	writePage(w, http.StatusOK, formView{Playbook: p.req.Playbook, User: orName(p.req), Action: "/form/" + url.PathEscape(tok), Fields: p.missing})
}

func orName(r RunRequest) string {
	if r.UserName != "" {
		return "@" + r.UserName
	}
	return r.User
}

// serveFormSubmit takes the secret inputs and starts the run. The token is used up first, so a
// second submission, or one racing this one, starts nothing.
func (s *Server) serveFormSubmit(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		writePage(w, http.StatusBadRequest, formView{Playbook: "respond", Message: "The form could not be read; nothing was started."})
		return
	}
	p := s.forms.take(tok, time.Now())
	if p == nil {
		// Nothing posted here is registered for masking: a stranger's request must not be able to
		// add words to the set every output is masked with.
		writePage(w, http.StatusNotFound, formView{Playbook: "respond", Message: "This link is used up or has expired. Nothing was started; ask for a new one in Slack."})
		return
	}
	secrets := map[string]string{}
	for _, name := range p.missing {
		if v := strings.TrimSpace(r.PostForm.Get(name)); v != "" {
			s.o.Secrets.Add(v) // before anything could print it
			secrets[name] = v
		}
	}
	if !s.o.Config.Playbooks[p.req.Playbook].Allows(p.req.User, p.req.Channel) {
		writePage(w, http.StatusForbidden, formView{Playbook: p.req.Playbook, Message: "You may no longer start this playbook here. Nothing was started."})
		return
	}
	req := p.req
	req.Secrets = map[string]string{}
	for _, name := range p.missing {
		if secrets[name] == "" {
			writePage(w, http.StatusBadRequest, formView{Playbook: req.Playbook,
				Message: "Nothing was given for " + name + ". Nothing was started; this link is used up, ask for a new one in Slack."})
			return
		}
		req.Secrets[name] = secrets[name]
	}
	s.logf("%s gave %s of %s through the one-time form", req.User, strings.Join(p.missing, ", "), req.Playbook)
	s.startRun(req, p.responseURL)
	writePage(w, http.StatusOK, formView{Playbook: req.Playbook, Message: "Received. The run is starting: follow it in Slack. You can close this page."})
}
