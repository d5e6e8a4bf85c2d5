// Package interop holds pbxsim's interoperability tests against third-party
// SIP tools (SIPp), run when the tools are installed.
package interop
