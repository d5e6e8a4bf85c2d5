package all

import _ "github.com/callhook/callhook/core/connector/esl" // registers esl
