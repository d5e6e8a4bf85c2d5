package voipex

import (
	"fmt"
	"strings"

	"github.com/callhook/callhook/core/dialect"
)

func init() {
	dialect.Register(dialect.Spec{
		Name: "voipex",
		Doc:  "VOIPEX webhooks: a JSON POST per event",
		Keys: map[string]dialect.Key{
			"events": {Doc: "comma-separated event subset (default: all): " + strings.Join(Events, ", "),
				Check: func(v string) error { return CheckEvents(dialect.List(v)) }},
			"format": {Doc: "json: the document's webhooks are JSON", Check: func(v string) error {
				if !strings.EqualFold(v, "json") {
					return fmt.Errorf("voipex webhooks are JSON (got %q)", v)
				}
				return nil
			}},
			"profile": {Doc: "default: the document has no variants", Check: func(v string) error {
				if !strings.EqualFold(v, "default") {
					return fmt.Errorf("voipex has no profiles (got %q)", v)
				}
				return nil
			}},
		},
		New: func(w dialect.Webhook) (dialect.Renderer, error) {
			dir := Directory{}
			for num, u := range w.Users {
				dir[num] = User{Login: u.Login, Email: u.Email}
			}
			opts := []Option{WithDirectory(dir)}
			if events := dialect.List(w.Option("events")); len(events) > 0 {
				opts = append(opts, WithEvents(events))
			}
			if w.Location != nil {
				opts = append(opts, WithLocation(w.Location))
			}
			return New(w.Name, w.URL, opts...), nil
		},
	})
}
