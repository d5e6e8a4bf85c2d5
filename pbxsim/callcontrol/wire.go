package callcontrol

// The JSON shapes of 3CX v20's Call Control API and configuration API
// (XAPI), as the simulator serves them. Field names are 3CX's; where each
// comes from:
//
//   - [cc-types]: 3CX's own example application, github.com/3cx/call-control-examples,
//     server/src/types.ts (DNInfo, DNDevice, CallParticipant, WSEvent,
//     EventType, CallControlResultResponse, WebSocketResponse,
//     CallControlRequest).
//   - [cc-docs]: 3CX's "Call Control API Endpoints" page
//     (www.3cx.com/docs/call-control-api-endpoints/), which lists
//     party_did, originated_by_*, referred_by_* and on_behalf_of_* beside
//     the fields of [cc-types].
//   - [xapi]: 3CX's XAPI OpenAPI document, github.com/3cx/xapi-tutorial,
//     swagger.yaml (Pbx.User, Pbx.ForwardingProfile, Pbx.AwayRouting,
//     Pbx.Destination, Pbx.Queue, Pbx.QueueAgent, Pbx.CallLogData,
//     Pbx.QueueStatusType) and auth.ts (the token response).

// Participant is one DN's part in a call ([cc-types] CallParticipant,
// [cc-docs]). The party fields describe the other side of the
// participant's leg.
type Participant struct {
	ID              int    `json:"id"`
	Status          string `json:"status"` // "Dialing", "Ringing", "Connected" ([cc-types] constants.ts)
	DN              string `json:"dn"`
	PartyCallerName string `json:"party_caller_name"`
	PartyDN         string `json:"party_dn"`
	PartyCallerID   string `json:"party_caller_id"`
	PartyDID        string `json:"party_did"`
	DeviceID        string `json:"device_id"`
	PartyDNType     string `json:"party_dn_type"`
	DirectControl   bool   `json:"direct_control"`
	OriginatedByDN  string `json:"originated_by_dn"`
	OriginatedBy    string `json:"originated_by_type"`
	ReferredByDN    string `json:"referred_by_dn"`
	ReferredByType  string `json:"referred_by_type"`
	OnBehalfOfDN    string `json:"on_behalf_of_dn"`
	OnBehalfOfType  string `json:"on_behalf_of_type"`
	CallID          int    `json:"callid"`
	LegID           int    `json:"legid"`
}

// Participant statuses. "Dialing" and "Connected" are the constants of
// [cc-types] (PARTICIPANT_STATUS_DIALING, PARTICIPANT_STATUS_CONNECTED);
// "Ringing" is the status public clients of the API test for an alerting
// device. The simulator also shows "Dialing" for a called participant
// whose device has not alerted yet: 3CX documents no status for it.
const (
	StatusDialing   = "Dialing"
	StatusRinging   = "Ringing"
	StatusConnected = "Connected"
)

// DN types as the Call Control API names them: "W" and the lower-cased
// XAPI Pbx.PeerType. [cc-types] tests for "Wextension"; public client code
// shows "Wexternalline" and "Wspecialmenu" in party_dn_type and "None" in
// the *_type fields; the others follow that pattern.
const (
	TypeExtension    = "Wextension"
	TypeExternalLine = "Wexternalline"
	TypeQueue        = "Wqueue"
	TypeRingGroup    = "Wringgroup"
	TypeIVR          = "Wivr"
	TypeRoutePoint   = "Wroutepoint"
	TypeFax          = "Wfax"
	TypeNone         = "None"
)

// Device is a phone or app registered at a DN ([cc-types] DNDevice).
type Device struct {
	DN        string `json:"dn"`
	DeviceID  string `json:"device_id"`
	UserAgent string `json:"user_agent"`
}

// DNInfo is one DN with its devices and participants ([cc-types] DNInfo;
// GET /callcontrol lists them).
type DNInfo struct {
	DN           string        `json:"dn"`
	Type         string        `json:"type"`
	Devices      []Device      `json:"devices"`
	Participants []Participant `json:"participants"`
}

// Event types of the WebSocket stream ([cc-types] EventType: Upset,
// Remove, DTMFstring, PromptPlaybackFinished, numbered from 0). Public
// clients name 4 "Response", the answer to a request sent on the socket.
const (
	EventUpsert                 = 0
	EventRemove                 = 1
	EventDTMFString             = 2
	EventPromptPlaybackFinished = 3
	EventResponse               = 4
)

// WSMessage is one message of the WebSocket stream ([cc-types] WSEvent).
type WSMessage struct {
	Sequence int     `json:"sequence"`
	Event    WSEvent `json:"event"`
}

// WSEvent says which entity changed; clients GET it ([cc-types]
// ExternalApiService.requestUpdatedEntityFromWebhookEvent).
type WSEvent struct {
	EventType    int         `json:"event_type"`
	Entity       string      `json:"entity"`
	AttachedData *WSResponse `json:"attached_data"`
}

// WSResponse is the attached data of a Response event ([cc-types]
// WebSocketResponse).
type WSResponse struct {
	RequestID  string `json:"RequestID,omitempty"`
	Path       string `json:"Path,omitempty"`
	StatusCode int    `json:"StatusCode"`
}

// MakeCallRequest is the body of POST /callcontrol/{dn}/makecall
// ([cc-types] ExternalApiService.makeCall: destination; [cc-docs]:
// timeout, attacheddata).
type MakeCallRequest struct {
	Destination  string         `json:"destination"`
	Timeout      int            `json:"timeout,omitempty"`
	AttachedData map[string]any `json:"attacheddata,omitempty"`
}

// CallControlResult answers MakeCall and participant actions ([cc-types]
// CallControlResultResponse; CallRequestStatus Failed -1, Rejected 0,
// Success 1).
type CallControlResult struct {
	FinalStatus int          `json:"finalstatus"`
	Reason      string       `json:"reason,omitempty"`
	Result      *Participant `json:"result,omitempty"`
	ReasonText  string       `json:"reasontext,omitempty"`
}

// Token is the answer of POST /connect/token ([xapi] auth.ts
// TokenResponse).
type Token struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// User is an extension's user as XAPI's /Users lists it ([xapi] Pbx.User,
// Number from Pbx.DN), with the fields callhook reads.
type User struct {
	ID                 int                 `json:"Id"`
	Number             string              `json:"Number"`
	FirstName          string              `json:"FirstName"`
	LastName           string              `json:"LastName"`
	DisplayName        string              `json:"DisplayName"`
	QueueStatus        string              `json:"QueueStatus"` // Pbx.QueueStatusType: LoggedIn, LoggedOut
	CurrentProfileName string              `json:"CurrentProfileName"`
	ForwardingProfiles []ForwardingProfile `json:"ForwardingProfiles,omitempty"`
}

// ForwardingProfile is one of a user's status profiles ([xapi]
// Pbx.ForwardingProfile): the AwayRoute says where calls go while it is
// the current profile of a user who is away.
type ForwardingProfile struct {
	ID        int          `json:"Id"`
	Name      string       `json:"Name"`
	AwayRoute *AwayRouting `json:"AwayRoute,omitempty"`
}

// AwayRouting is [xapi] Pbx.AwayRouting.
type AwayRouting struct {
	AllHoursExternal bool         `json:"AllHoursExternal"`
	AllHoursInternal bool         `json:"AllHoursInternal"`
	External         *Destination `json:"External,omitempty"`
	Internal         *Destination `json:"Internal,omitempty"`
}

// Destination is [xapi] Pbx.Destination: To is a Pbx.DestinationType
// (None, VoiceMail, Extension, ..., External); Number names a DN, External
// an outside number.
type Destination struct {
	To       string `json:"To"`
	Number   string `json:"Number,omitempty"`
	External string `json:"External,omitempty"`
}

// Queue is [xapi] Pbx.Queue with its Agents.
type Queue struct {
	ID     int          `json:"Id"`
	Number string       `json:"Number"`
	Name   string       `json:"Name"`
	Agents []QueueAgent `json:"Agents"`
}

// QueueAgent is [xapi] Pbx.QueueAgent.
type QueueAgent struct {
	ID     int    `json:"Id"`
	Number string `json:"Number"`
	Name   string `json:"Name"`
}

// CallLogData is one row of the call log ([xapi] Pbx.CallLogData, the
// rows of ReportCallLogData/Pbx.GetCallLogData).
type CallLogData struct {
	CallID            int    `json:"CallId"`
	SegmentID         int    `json:"SegmentId"`
	StartTime         string `json:"StartTime"`
	SourceDn          string `json:"SourceDn"`
	SourceCallerID    string `json:"SourceCallerId"`
	DestinationDn     string `json:"DestinationDn"`
	DestinationCaller string `json:"DestinationCallerId"`
	Answered          bool   `json:"Answered"`
	Status            string `json:"Status"`
	TalkingDuration   string `json:"TalkingDuration"`
	Direction         string `json:"Direction"`
	Reason            string `json:"Reason"`
	RecordingURL      string `json:"RecordingUrl"`
}

// collection is an OData collection response.
type collection[T any] struct {
	Context string `json:"@odata.context"`
	Value   []T    `json:"value"`
}
