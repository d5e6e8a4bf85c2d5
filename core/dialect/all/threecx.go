package all

import _ "github.com/callhook/callhook/core/dialect/threecx" // registers itself
