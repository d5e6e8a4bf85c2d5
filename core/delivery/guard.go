package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress: the receiver's address is private, loopback,
// link-local or otherwise not on the public internet, and the receiver is
// not allowed to be there. A webhook URL comes from configuration a PBX
// administrator may not fully control; without this guard it could make the
// engine probe the internal network (server-side request forgery) or a
// cloud's metadata service at 169.254.169.254.
var ErrForbiddenAddress = errors.New("receiver address not allowed")

// AllowPrivateKey is the configuration key that lets a receiver be on a
// private address; errors name it so the operator knows what to change.
const AllowPrivateKey = "allow_private"

// cgnat is the shared address space of RFC 6598, internal to carriers.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// ForbiddenAddr reports why ip may not be a receiver's address without
// allow_private, or "" when it is a public unicast address.
func ForbiddenAddr(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "invalid address"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	case cgnat.Contains(ip):
		return "shared (carrier-grade NAT)"
	}
	return ""
}

// AddrError is the guard's refusal, naming the address and the key that
// allows it.
type AddrError struct {
	Addr   string // the address that was about to be dialled
	Reason string // loopback, private, link-local, ...
}

func (e *AddrError) Error() string {
	return fmt.Sprintf("%v: %s is %s (set %s = true in the receiver's [webhook.NAME] section to allow it)",
		ErrForbiddenAddress, e.Addr, e.Reason, AllowPrivateKey)
}

// Is matches ErrForbiddenAddress.
func (e *AddrError) Is(target error) bool { return target == ErrForbiddenAddress }

// guardControl is a net.Dialer Control function refusing forbidden
// addresses. It runs after name resolution, on the address actually
// dialled, so a DNS name that resolves (or rebinds) to an internal address
// is refused too.
func guardControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &AddrError{Addr: address, Reason: "not an IP address"}
	}
	if why := ForbiddenAddr(ap.Addr()); why != "" {
		return &AddrError{Addr: address, Reason: why}
	}
	return nil
}

// CheckHost resolves host (a literal IP or a name) and returns an
// *AddrError if any of its addresses is forbidden. Configuration checks use
// it to refuse a receiver at startup rather than at its first webhook.
func CheckHost(ctx context.Context, host string) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := ForbiddenAddr(ip); why != "" {
			return &AddrError{Addr: host, Reason: why}
		}
		return nil
	}
	if host == "localhost" {
		return &AddrError{Addr: host, Reason: "loopback"}
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		// Unresolvable now is not a guard matter; the dial will tell.
		return nil
	}
	for _, ip := range ips {
		if why := ForbiddenAddr(ip); why != "" {
			return &AddrError{Addr: fmt.Sprintf("%s (%s)", host, ip), Reason: why}
		}
	}
	return nil
}
