package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/callhook/callhook/core/config"
)

const extensionBase = `[pbx]
type = pbxsim
address = 127.0.0.1:5038
username = admin
secret = secret

[webhook.crm]
url = http://127.0.0.1:9000/hook
dialect = voipex
`

func TestExtensionDirectory(t *testing.T) {
	cfg, err := config.Parse("x.ini", strings.NewReader(extensionBase+`
[extension.101]
login = petr.novak
email = petr.novak@jehofirma.cz
name  = Petr Novák
`))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Extensions["101"]
	if e.Login != "petr.novak" || e.Email != "petr.novak@jehofirma.cz" || e.Name != "Petr Novák" || e.Number != "101" {
		t.Errorf("extension 101 = %+v", e)
	}
}

func TestExtensionProblems(t *testing.T) {
	_, err := config.Parse("x.ini", strings.NewReader(extensionBase+`
[extension.101]
email = not-an-address
[extension.101]
login = again
[extension.102]
pin = 1234
`))
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"invalid e-mail", "duplicate section", "unknown key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
