// Package all registers every connector callhook ships: importing it makes
// them known to the configuration and the service. Each connector has one
// file here, so adding a connector adds a file rather than editing a list.
package all
