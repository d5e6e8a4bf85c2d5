package service

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Readiness is what /readyz reports.
type Readiness struct {
	Ready bool `json:"ready"`
	// PBX: the connector has a session with the PBX.
	PBX struct {
		Connected bool      `json:"connected"`
		Since     time.Time `json:"since"`
		Error     string    `json:"error,omitempty"`
	} `json:"pbx"`
	// Outbox: a write to the outbox's store was acknowledged just now.
	Outbox struct {
		Writable bool   `json:"writable"`
		Error    string `json:"error,omitempty"`
	} `json:"outbox"`
	Reasons []string `json:"reasons,omitempty"`
}

// Ready checks what the engine needs to do its job: a session with the
// PBX (or it hears no calls) and an outbox that takes writes (or no
// webhook can be stored).
func (s *Service) Ready(ctx context.Context) Readiness {
	var rd Readiness
	up, since, lost := s.pbx.state()
	rd.PBX.Connected, rd.PBX.Since = up, since
	if !up {
		why := "not connected yet"
		if lost != nil {
			why = "connection lost: " + lost.Error()
			rd.PBX.Error = lost.Error()
		}
		rd.Reasons = append(rd.Reasons, fmt.Sprintf("PBX %s (%s)", s.cfg.PBX.Address(), why))
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.Outbox.Check(ctx); err != nil {
		rd.Outbox.Error = err.Error()
		rd.Reasons = append(rd.Reasons, err.Error())
	} else {
		rd.Outbox.Writable = true
	}
	rd.Ready = len(rd.Reasons) == 0
	return rd
}

func (s *Service) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	rd := s.Ready(r.Context())
	if !rd.Ready {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	writeJSON(w, rd)
}
