package service

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/callhook/callhook/core/outbox"
)

// The admin API, on [delivery] admin_listen:
//
//	GET  /healthz                              200 while the process serves (no token)
//	GET  /readyz                               200 when the PBX is connected and the outbox
//	                                           takes writes, else 503 with the reasons (no token)
//	GET  /metrics                              Prometheus metrics (no token)
//	GET  /admin/status                         pending count, last sync token, disabled receivers
//	GET  /admin/deliveries?receiver=&call=&since=&until=&status=&limit=
//	GET  /admin/deliveries/{id}                every attempt of one webhook
//	POST /admin/deliveries/{id}/replay         send it again, same webhook id
//	POST /admin/deliveries/replay?receiver=&call=&since=&until=&status=&limit=
//	                                           send every matching webhook again
//	POST /admin/receivers/{name}/enable        undo a 410
//
// call= is a call's key or any id a receiver saw for it (outbox.CallKeys).
// Everything under /admin needs "Authorization: Bearer <admin_token>":
// replay sends webhooks, and the log holds their bodies. The probes and
// /metrics tell nothing of a webhook, and probes (a load balancer, a
// container's HEALTHCHECK, systemd) carry no token.

// AdminHandler serves the admin API, the health probes and /metrics.
func (s *Service) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /admin/status", s.authed(s.adminStatus))
	mux.HandleFunc("GET /admin/deliveries", s.authed(s.adminList))
	mux.HandleFunc("GET /admin/deliveries/{id}", s.authed(s.adminShow))
	mux.HandleFunc("POST /admin/deliveries/replay", s.authed(s.adminReplayAll))
	mux.HandleFunc("POST /admin/deliveries/{id}/replay", s.authed(s.adminReplay))
	mux.HandleFunc("POST /admin/receivers/{name}/enable", s.authed(s.adminEnable))
	s.mountInspector(mux) // GET /inspect/ (inspect.go)
	return mux
}

// AdminAddr is the admin API's listening address ("" when off).
func (s *Service) AdminAddr() string {
	if s.adminLn == nil {
		return ""
	}
	return s.adminLn.Addr().String()
}

func (s *Service) startAdmin() error {
	d := s.cfg.Delivery
	ln, err := net.Listen("tcp", d.AdminListen)
	if err != nil {
		return fmt.Errorf("%s:%d: [delivery] admin_listen: %w", s.cfg.File, d.Line, err)
	}
	s.adminLn = ln
	s.admin = &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.admin.Serve(ln) }()
	s.log.Info("admin API listening", "addr", ln.Addr().String())
	return nil
}

func (s *Service) authed(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + s.cfg.Delivery.AdminToken.Reveal())
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if s.cfg.Delivery.AdminToken == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="callhook admin"`)
			httpError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token ([delivery] admin_token)"))
			return
		}
		h(w, r)
	}
}

func (s *Service) adminStatus(w http.ResponseWriter, r *http.Request) {
	n, err := s.Outbox.Pending(r.Context())
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err)
		return
	}
	disabled := map[string]string{}
	for _, wh := range s.cfg.Webhooks {
		if why := s.Outbox.Receivers().Disabled(wh.Name); why != "" {
			disabled[wh.Name] = why
		}
	}
	writeJSON(w, map[string]any{"pending": n, "last_sync": s.LastSync(), "disabled": disabled})
}

// filter reads the query's filter of the attempt log.
func filter(r *http.Request) (outbox.Filter, error) {
	q := r.URL.Query()
	f := outbox.Filter{Receiver: q.Get("receiver"), CallKey: q.Get("call"), Status: q.Get("status")}
	var err error
	if f.Since, err = parseTime(q.Get("since")); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = parseTime(q.Get("until")); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 0 {
			return f, fmt.Errorf("limit %q: want a number", v)
		}
	}
	switch f.Status {
	case "", "delivered", "dead", "pending":
	default:
		return f, fmt.Errorf("status %q: want delivered, dead or pending", f.Status)
	}
	return f, nil
}

func (s *Service) adminList(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	list, err := s.Outbox.List(r.Context(), f)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	if list == nil {
		list = []outbox.Summary{}
	}
	writeJSON(w, list)
}

func (s *Service) adminShow(w http.ResponseWriter, r *http.Request) {
	recs, err := s.Outbox.Show(r.Context(), r.PathValue("id"))
	if errors.Is(err, outbox.ErrNotFound) {
		httpError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, recs)
}

func (s *Service) adminReplay(w http.ResponseWriter, r *http.Request) {
	req, err := s.Outbox.Replay(r.Context(), r.PathValue("id"))
	if errors.Is(err, outbox.ErrNotFound) {
		httpError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": req.ID, "receiver": req.Receiver, "status": "queued"})
}

// adminReplayAll replays every webhook the filter matches; a filter is
// required, so an empty request cannot resend the whole log.
func (s *Service) adminReplayAll(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	if (outbox.Filter{Limit: f.Limit}) == f { // a limit alone says which webhooks no more than nothing does
		httpError(w, http.StatusBadRequest, errors.New("say which webhooks: receiver, call, since, until or status (status=dead for the dead letters)"))
		return
	}
	reqs, err := s.Outbox.ReplayAll(r.Context(), f)
	ids := []string{}
	for _, req := range reqs {
		ids = append(ids, req.ID)
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Errorf("%w (%d replayed before)", err, len(ids)))
		return
	}
	s.log.Info("webhooks replayed", "count", len(ids), "receiver", f.Receiver, "call", f.CallKey, "status", f.Status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"replayed": len(ids), "ids": ids, "status": "queued"})
}

func (s *Service) adminEnable(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.Outbox.Enable(r.Context(), name); err != nil {
		httpError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, map[string]string{"receiver": name, "status": "enabled"})
}

// parseTime reads RFC 3339 or a duration back from now ("15m").
func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-24T10:00:00Z) or a duration back from now (15m)", v)
	}
	return t, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func httpError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": strings.TrimSpace(err.Error())})
}
