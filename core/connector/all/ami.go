package all

import _ "github.com/callhook/callhook/core/connector/ami" // registers ami and pbxsim
