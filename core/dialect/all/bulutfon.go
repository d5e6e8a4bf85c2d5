package all

import _ "github.com/callhook/callhook/core/dialect/bulutfon" // registers itself
