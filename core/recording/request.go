package recording

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/callhook/callhook/core/delivery"
)

// Request renders ev as the POST to target for the receiver named
// receiver. CallKey is ev.Chain, so delivery sends a call's analytics
// event only after its recording event, and both after the call's
// earlier webhooks when the engine uses the same chain key
// (callmodel.CallID.Chain).
func (ev Event) Request(receiver string, target *url.URL, p Placement) delivery.Request {
	u := *target
	if q := ev.Query(p).Encode(); q != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&" + q
		} else {
			u.RawQuery = q
		}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return delivery.Request{
		ID:       fmt.Sprintf("%s-%s-%s-%s", receiver, ev.Chain, ev.Kind, ev.CallID),
		Receiver: receiver,
		CallKey:  ev.Chain,
		Method:   http.MethodPost,
		URL:      u.String(),
		Header:   h,
		Body:     ev.Body(p),
	}
}
