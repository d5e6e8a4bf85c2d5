package all

import _ "github.com/callhook/callhook/core/connector/callcontrol" // registers 3cx (3CX's Call Control API)
