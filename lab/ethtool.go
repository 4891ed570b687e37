package lab

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value, the argument of the legacy ethtool
// ioctls that get or set one offload feature (ETHTOOL_SGRO, ETHTOOL_STSO).
type ethtoolValue struct {
	cmd, data uint32
}

// ethtoolIfreq is struct ifreq as SIOCETHTOOL reads it: the interface's name,
// then a pointer to the command's argument (the union's rest is padding).
type ethtoolIfreq struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// setEthtoolFeature turns the offload feature that cmd sets (ETHTOOL_SGRO,
// ETHTOOL_STSO, ...) on or off on the interface ifname of the calling thread's
// network namespace, as `ethtool -K` does (without the ethtool tool).
func setEthtoolFeature(ifname string, cmd uint32, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("ethtool socket: %w", err)
	}
	defer unix.Close(fd)
	v := &ethtoolValue{cmd: cmd}
	if on {
		v.data = 1
	}
	ifr := &ethtoolIfreq{data: unsafe.Pointer(v)}
	copy(ifr.name[:unix.IFNAMSIZ-1], ifname)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(ifr)))
	runtime.KeepAlive(v)
	runtime.KeepAlive(ifr)
	if errno != 0 {
		return fmt.Errorf("ethtool command %#x (%v) on %s: %w", cmd, on, ifname, errno)
	}
	return nil
}
