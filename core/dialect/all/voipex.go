package all

import _ "github.com/callhook/callhook/core/dialect/voipex" // registers itself
