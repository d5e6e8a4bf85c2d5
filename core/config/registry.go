package config

import (
	"errors"
	"maps"

	"github.com/callhook/callhook/core/connector"
	_ "github.com/callhook/callhook/core/connector/all" // every [pbx] type
	"github.com/callhook/callhook/core/dialect"
	_ "github.com/callhook/callhook/core/dialect/all" // every dialect
)

// DialectWebhook is what the webhook's dialect builds its renderer from.
func (c *Config) DialectWebhook(w Webhook) dialect.Webhook {
	users := map[string]dialect.User{}
	for num, e := range c.Extensions {
		users[num] = dialect.User{Login: e.Login, Email: e.Email, Name: e.Name}
	}
	return dialect.Webhook{Name: w.Name, URL: w.URL, Options: maps.Clone(w.Options), Location: c.PBX.Timezone, Users: users}
}

// ConnectorPBX is what the [pbx] type's connector is built from; secrets
// are revealed.
func (c *Config) ConnectorPBX() connector.PBX {
	opts := maps.Clone(c.PBX.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	for k, v := range c.PBX.Secrets {
		opts[k] = v.Reveal()
	}
	return connector.PBX{Type: c.PBX.Type, Options: opts, Location: c.PBX.Timezone, RecordingsDir: c.Recordings.MonitorDir}
}

// checkRenderers builds every webhook's renderer once, so a problem only
// the combination of a dialect's keys shows is reported with the rest, on
// the line of the key it concerns.
func checkRenderers(cfg *Config, ps *problems) {
	for _, w := range cfg.Webhooks {
		spec, err := dialect.Lookup(w.Dialect)
		if err != nil || w.URL == nil {
			continue
		}
		if _, err := spec.New(cfg.DialectWebhook(w)); err != nil {
			var ke *dialect.KeyError
			if errors.As(err, &ke) {
				line := w.OptionLines[ke.Key]
				if line == 0 {
					line = w.Line
				}
				ps.add(line, "webhook."+w.Name, ke.Key, "%v", ke.Err)
				continue
			}
			ps.add(w.Line, "webhook."+w.Name, "", "%v", err)
		}
	}
}

// NewPBX is a [pbx] section built in code (a simulator, a test): the
// connector's keys, the secret ones kept as Secrets as the parser keeps
// them.
func NewPBX(typ string, options map[string]string) PBX {
	p := PBX{Type: typ, Options: map[string]string{}, Secrets: map[string]Secret{}}
	spec, _ := connector.Lookup(typ)
	for k, v := range options {
		if spec.Keys[k].Secret {
			p.Secrets[k] = Secret(v)
		} else {
			p.Options[k] = v
		}
	}
	return p
}
