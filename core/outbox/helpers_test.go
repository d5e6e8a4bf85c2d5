package outbox_test

import "github.com/callhook/callhook/core/outbox"

// Helpers shared with the package's internal tests.
var waitFor = outbox.WaitFor

type syncBuffer = outbox.SyncBuffer
