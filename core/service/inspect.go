package service

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"

	"github.com/callhook/callhook/core/config"
	"github.com/callhook/callhook/core/delivery"
	"github.com/callhook/callhook/core/inspect"
)

// The inspector on the admin listener:
//
//	GET /inspect/          the live calls of the PBX, with their webhooks,
//	                       attempts and vendor rule checks (core/inspect)
//
// It shows webhook bodies, so the admin token applies. A browser sends
// no Authorization header when it opens a page or an event stream, so
// /inspect/?token=<admin_token> sets it as a cookie (HttpOnly, for
// /inspect/ only) and leads on to the page without it in the URL.

const inspectCookie = "callhook_admin"

// withInspector starts the inspector when there is an admin listener and
// adds it to what follows the engine: a stage, and delivery's attempts
// and results.
func (s *Service) withInspector(cfg *config.Config, opts Options, log *slog.Logger) Options {
	if cfg.Delivery.AdminListen == "" {
		return opts
	}
	recvs := map[string]inspect.Receiver{}
	for _, w := range cfg.Webhooks {
		recvs[w.Name] = inspect.Receiver{Dialect: w.Dialect, Options: w.Options}
	}
	s.Inspector = inspect.New(inspect.Options{
		Receivers: recvs, Location: cfg.PBX.Timezone, Title: cfg.File,
		Logger: log.With("component", "inspect"),
	})
	opts.Stages = append(opts.Stages[:len(opts.Stages):len(opts.Stages)], s.Inspector)
	onAttempt, onResult := opts.OnAttempt, opts.OnResult
	opts.OnAttempt = func(a delivery.Attempt) {
		s.Inspector.Attempt(a)
		if onAttempt != nil {
			onAttempt(a)
		}
	}
	opts.OnResult = func(r delivery.Result) {
		s.Inspector.Result(r)
		if onResult != nil {
			onResult(r)
		}
	}
	return opts
}

// mountInspector serves the inspector below /inspect/ on mux.
func (s *Service) mountInspector(mux *http.ServeMux) {
	if s.Inspector == nil {
		return
	}
	mux.Handle("/inspect/", s.inspectAuthed(http.StripPrefix("/inspect", s.Inspector)))
}

// inspectAuthed lets through requests with the admin token as a bearer
// token or as the cookie; a token in the query becomes the cookie.
func (s *Service) inspectAuthed(h http.Handler) http.Handler {
	token := s.cfg.Delivery.AdminToken.Reveal()
	same := func(got string) bool {
		return token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has("token") {
			if !same(q.Get("token")) {
				httpError(w, http.StatusUnauthorized, errTokenMissing)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: inspectCookie, Value: token, Path: "/inspect/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		bearer := r.Header.Get("Authorization")
		c, err := r.Cookie(inspectCookie)
		if same(trimBearer(bearer)) || (err == nil && same(c.Value)) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="callhook admin"`)
		httpError(w, http.StatusUnauthorized, errTokenMissing)
	})
}

func trimBearer(h string) string {
	const p = "Bearer "
	if len(h) > len(p) && h[:len(p)] == p {
		return h[len(p):]
	}
	return ""
}

var errTokenMissing = errors.New("missing or wrong admin token ([delivery] admin_token): open /inspect/?token=TOKEN")
