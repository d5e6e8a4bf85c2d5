package callcontrol

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// What 3CX v20 sends, as far as the connector reads it. Names and their
// sources:
//
//   - [cc-types]: 3CX's example application github.com/3cx/call-control-examples,
//     server/src/types.ts (DNInfo, CallParticipant, WSEvent, EventType,
//     CallControlResultResponse, WebSocketResponse) and constants.ts
//     (statuses Dialing and Connected; the participant actions).
//   - [cc-docs]: 3CX's "Call Control API Endpoints" page
//     (www.3cx.com/docs/call-control-api-endpoints/): the participant's
//     party_did, originated_by_*, referred_by_* and on_behalf_of_*.
//   - [xapi]: 3CX's XAPI OpenAPI document (github.com/3cx/xapi-tutorial,
//     swagger.yaml; the token in auth.ts).
//
// Unknown fields are ignored, so newer 3CX builds that add fields decode.

// Participant is one DN's part in a call ([cc-types] CallParticipant).
type Participant struct {
	ID              int    `json:"id"`
	Status          string `json:"status"`
	DN              string `json:"dn"`
	PartyCallerName string `json:"party_caller_name"`
	PartyDN         string `json:"party_dn"`
	PartyCallerID   string `json:"party_caller_id"`
	PartyDID        string `json:"party_did"`
	DeviceID        string `json:"device_id"`
	PartyDNType     string `json:"party_dn_type"`
	DirectControl   bool   `json:"direct_control"`
	OriginatedByDN  string `json:"originated_by_dn"`
	ReferredByDN    string `json:"referred_by_dn"`
	ReferredByType  string `json:"referred_by_type"`
	OnBehalfOfDN    string `json:"on_behalf_of_dn"`
	OnBehalfOfType  string `json:"on_behalf_of_type"`
	CallID          int    `json:"callid"`
	LegID           int    `json:"legid"`
}

// DNInfo is one DN of GET /callcontrol ([cc-types] DNInfo).
type DNInfo struct {
	DN           string        `json:"dn"`
	Type         string        `json:"type"`
	Participants []Participant `json:"participants"`
}

// Participant statuses ([cc-types] constants.ts names Dialing and
// Connected; public clients test "Ringing" for an alerting device).
const (
	statusDialing   = "Dialing"
	statusRinging   = "Ringing"
	statusConnected = "Connected"
)

// DN types ([cc-types] compares DNInfo.type with "Wextension"; public
// clients show "Wexternalline" in party_dn_type; the others follow that
// pattern of "W" and XAPI's Pbx.PeerType).
const (
	typeExtension    = "Wextension"
	typeExternalLine = "Wexternalline"
	typeQueue        = "Wqueue"
	typeRingGroup    = "Wringgroup"
	typeIVR          = "Wivr"
	typeFax          = "Wfax"
)

// eventType is a WebSocket event's kind ([cc-types] EventType, numbered
// from 0: Upset, Remove, DTMFstring, PromptPlaybackFinished; public
// clients add 4, Response). It decodes from the number or the name.
type eventType int

const (
	eventUpsert   eventType = 0
	eventRemove   eventType = 1
	eventDTMF     eventType = 2
	eventPrompt   eventType = 3
	eventResponse eventType = 4
)

var eventTypeNames = map[string]eventType{
	"upsert": eventUpsert, "upset": eventUpsert, "remove": eventRemove,
	"dtmfstring": eventDTMF, "promptplaybackfinished": eventPrompt, "response": eventResponse,
}

func (t *eventType) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*t = eventType(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("event_type %s: neither a number nor a name", b)
	}
	v, ok := eventTypeNames[strings.ToLower(s)]
	if !ok {
		return fmt.Errorf("event_type %q: unknown", s)
	}
	*t = v
	return nil
}

// wsMessage is one message of /callcontrol/ws ([cc-types] WSEvent).
type wsMessage struct {
	Sequence int `json:"sequence"`
	Event    *struct {
		EventType    eventType       `json:"event_type"`
		Entity       string          `json:"entity"`
		AttachedData json.RawMessage `json:"attached_data"`
	} `json:"event"`
}

// wsResponse is a Response event's attached data ([cc-types]
// WebSocketResponse: RequestID, Path, StatusCode); the snake-case names
// public clients use are read too.
type wsResponse struct {
	RequestID  string `json:"RequestID"`
	RequestID2 string `json:"request_id"`
}

func (r wsResponse) id() string {
	if r.RequestID != "" {
		return r.RequestID
	}
	return r.RequestID2
}

// finalStatus is CallControlResultResponse.finalstatus ([cc-types]
// CallRequestStatus: Failed -1, Rejected 0, Success 1), from the number or
// the name.
type finalStatus int

func (f *finalStatus) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*f = finalStatus(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("finalstatus %s: neither a number nor a name", b)
	}
	switch strings.ToLower(s) {
	case "success":
		*f = 1
	case "rejected":
		*f = 0
	case "failed":
		*f = -1
	default:
		if n, err := strconv.Atoi(s); err == nil {
			*f = finalStatus(n)
			return nil
		}
		return fmt.Errorf("finalstatus %q: unknown", s)
	}
	return nil
}

// callControlResult answers makecall ([cc-types] CallControlResultResponse).
type callControlResult struct {
	FinalStatus finalStatus  `json:"finalstatus"`
	Reason      string       `json:"reason"`
	Result      *Participant `json:"result"`
	ReasonText  string       `json:"reasontext"`
}

// tokenResponse is POST /connect/token's answer ([xapi] auth.ts
// TokenResponse) or its OAuth 2 error (RFC 6749 §5.2).
type tokenResponse struct {
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	AccessToken      string `json:"access_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// XAPI ([xapi] Pbx.User, Pbx.ForwardingProfile, Pbx.AwayRouting,
// Pbx.Destination, Pbx.Queue, Pbx.QueueAgent, Pbx.CallLogData).

type odataCollection[T any] struct {
	Value []T `json:"value"`
}

type xapiUser struct {
	Number             string `json:"Number"`
	DisplayName        string `json:"DisplayName"`
	FirstName          string `json:"FirstName"`
	LastName           string `json:"LastName"`
	QueueStatus        string `json:"QueueStatus"`
	CurrentProfileName string `json:"CurrentProfileName"`
	ForwardingProfiles []struct {
		Name      string `json:"Name"`
		AwayRoute *struct {
			External *xapiDestination `json:"External"`
			Internal *xapiDestination `json:"Internal"`
		} `json:"AwayRoute"`
	} `json:"ForwardingProfiles"`
}

type xapiDestination struct {
	To       string `json:"To"`
	Number   string `json:"Number"`
	External string `json:"External"`
}

type xapiQueue struct {
	Number string `json:"Number"`
	Agents []struct {
		Number string `json:"Number"`
		Name   string `json:"Name"`
	} `json:"Agents"`
}

type xapiCallLog struct {
	CallID        int    `json:"CallId"`
	DestinationDn string `json:"DestinationDn"`
	// DestinationCallerID is the destination's number: an external
	// line's is the outside number called.
	DestinationCallerID string `json:"DestinationCallerId"`
	Answered            bool   `json:"Answered"`
	Status              string `json:"Status"`
	Reason              string `json:"Reason"`
	RecordingURL        string `json:"RecordingUrl"`
}
