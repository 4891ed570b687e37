package udpprobe

// The requests, one constant per service, written field by field from the
// protocol's specification. A cookie field holds Wire(0): zero bytes, or zero
// digits for a hexadecimal field.

// dnsQuery is a standard query (RFC 1035 section 4.1) for the TXT record of
// version.bind in the CHAOS class, which name servers answer with their
// version (or refuse, which also echoes the ID).
const dnsQuery = "" +
	"\x00\x00" + // ID: the cookie
	"\x00\x00" + // QR 0 (query), OPCODE 0 (QUERY), AA TC RD RA 0, Z 0, RCODE 0
	"\x00\x01" + // QDCOUNT 1
	"\x00\x00" + // ANCOUNT 0
	"\x00\x00" + // NSCOUNT 0
	"\x00\x00" + // ARCOUNT 0
	"\x07version\x04bind\x00" + // QNAME version.bind
	"\x00\x10" + // QTYPE TXT (16)
	"\x00\x03" // QCLASS CH (3)

func dnsProbe() Probe {
	return Probe{Name: "dns", Port: 53, Payload: dnsQuery, CookieOffset: 0, CookieLen: 2}
}

// tftpRRQ is a read request (RFC 1350 section 5) in octet mode. A server
// answers with DATA block 1 or an ERROR, from a new port (its transfer
// identifier), echoing nothing of the request.
const tftpRRQ = "" +
	"\x00\x01" + // opcode 1: RRQ
	"fastscan\x00" + // filename, NUL-terminated netascii
	"octet\x00" // mode

func tftpProbe() Probe {
	return Probe{Name: "tftp", Port: 69, Payload: tftpRRQ}
}

// portmapCall is an ONC RPC call message (RFC 5531 section 9, XDR per
// RFC 4506) for procedure 0 (NULL) of the portmapper, program 100000 version
// 2 (RFC 1833 section 3), with AUTH_NONE credentials and verifier.
const portmapCall = "" +
	"\x00\x00\x00\x00" + // xid: the cookie
	"\x00\x00\x00\x00" + // msg_type CALL (0)
	"\x00\x00\x00\x02" + // rpcvers 2
	"\x00\x01\x86\xa0" + // prog 100000 (portmapper)
	"\x00\x00\x00\x02" + // vers 2
	"\x00\x00\x00\x00" + // proc 0 (NULL)
	"\x00\x00\x00\x00" + // cred: flavor AUTH_NONE (0)
	"\x00\x00\x00\x00" + // cred: body length 0
	"\x00\x00\x00\x00" + // verf: flavor AUTH_NONE (0)
	"\x00\x00\x00\x00" // verf: body length 0

func portmapProbe() Probe {
	return Probe{Name: "portmap", Port: 111, Payload: portmapCall, CookieOffset: 0, CookieLen: 4}
}

// ntpRequest is an NTP version 4 client (mode 3) packet (RFC 5905 section
// 7.3). A server copies its transmit timestamp into the origin timestamp of
// its reply (section 9.2, fast_xmit), so the transmit timestamp carries the
// cookie.
const ntpRequest = "" +
	"\x23" + // LI 0, VN 4, Mode 3 (client)
	"\x00" + // Stratum
	"\x00" + // Poll
	"\x00" + // Precision
	"\x00\x00\x00\x00" + // Root Delay
	"\x00\x00\x00\x00" + // Root Dispersion
	"\x00\x00\x00\x00" + // Reference ID
	"\x00\x00\x00\x00\x00\x00\x00\x00" + // Reference Timestamp
	"\x00\x00\x00\x00\x00\x00\x00\x00" + // Origin Timestamp
	"\x00\x00\x00\x00\x00\x00\x00\x00" + // Receive Timestamp
	"\x00\x00\x00\x00\x00\x00\x00\x00" // Transmit Timestamp: the cookie

func ntpProbe() Probe {
	return Probe{Name: "ntp", Port: 123, Payload: ntpRequest, CookieOffset: 40, CookieLen: 8}
}

// netbiosNodeStatus is a NetBIOS name service NODE STATUS REQUEST (RFC 1002
// section 4.2.17) for the wildcard name "*" (RFC 1001 section 14.1: '*'
// padded with NULs to 16 bytes), first-level encoded (RFC 1001 section
// 14.1: each half-byte plus 'A').
const netbiosNodeStatus = "" +
	"\x00\x00" + // NAME_TRN_ID: the cookie
	"\x00\x00" + // R 0, OPCODE 0 (query), NM_FLAGS 0 (unicast), RCODE 0
	"\x00\x01" + // QDCOUNT 1
	"\x00\x00" + // ANCOUNT 0
	"\x00\x00" + // NSCOUNT 0
	"\x00\x00" + // ARCOUNT 0
	"\x20" + // QUESTION_NAME: one 32-byte label
	"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" + // '*' (0x2a: 'C' 'K'), then 15 NULs ('A' 'A')
	"\x00" + // root label
	"\x00\x21" + // QUESTION_TYPE NBSTAT (0x21)
	"\x00\x01" // QUESTION_CLASS IN

func netbiosProbe() Probe {
	return Probe{Name: "netbios-ns", Port: 137, Payload: netbiosNodeStatus, CookieOffset: 0, CookieLen: 2}
}

// snmpGetRequest is an SNMPv2c message (RFC 1901 section 3, community
// "public") carrying a GetRequest-PDU (RFC 3416 section 3) for sysDescr.0
// (1.3.6.1.2.1.1.1.0, RFC 3418), in BER (X.690) with definite short lengths.
//
// The request-id is a four-byte INTEGER whose first content byte is fixed at
// 0x40, the cookie filling the other three: the value is then always
// positive, within Integer32, and minimally encoded as X.690 section 8.3.2
// requires, so every agent decodes it and re-encodes it the same way.
const snmpGetRequest = "" +
	"\x30\x29" + // Message: SEQUENCE, 41 bytes
	"\x02\x01\x01" + // version: INTEGER 1 (version-2c)
	"\x04\x06public" + // community: OCTET STRING "public"
	"\xa0\x1c" + // data: GetRequest-PDU, [0] IMPLICIT, constructed, 28 bytes
	"\x02\x04\x40" + // request-id: INTEGER, 4 bytes, 0x40 then...
	"\x00\x00\x00" + // ...the cookie
	"\x02\x01\x00" + // error-status: INTEGER 0 (noError)
	"\x02\x01\x00" + // error-index: INTEGER 0
	"\x30\x0e" + // variable-bindings: SEQUENCE OF, 14 bytes
	"\x30\x0c" + // VarBind: SEQUENCE, 12 bytes
	"\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00" + // name: OID 1.3.6.1.2.1.1.1.0
	"\x05\x00" // value: unSpecified NULL

// snmpRequestIDHigh is the fixed first content byte of the request-id.
const snmpRequestIDHigh = 0x40

func snmpProbe() Probe {
	return Probe{Name: "snmp", Port: 161, Payload: snmpGetRequest, CookieOffset: 18, CookieLen: 3}
}

// ikeSAInit is an IKEv2 IKE_SA_INIT request (RFC 7296 sections 1.2 and 3)
// with the smallest payloads it must carry: an SA with one IKE proposal
// (AES-CBC-128, HMAC-SHA2-256 PRF and integrity, the 256-bit random ECP group
// 19, all required or recommended by RFC 8247), a KE payload and a Nonce.
// A responder answers with its own IKE_SA_INIT, or with an error
// notification (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD) or a COOKIE request,
// all of which carry the initiator's SPI.
//
// The initiator SPI, which must not be zero, is "fs" followed by the six
// cookie bytes. The KE data is the generator of P-256 (x then y, RFC 5903
// section 7), a valid public value; the nonce is a fixed 32 bytes.
const ikeSAInit = "" +
	// IKE header (section 3.1)
	"fs" + // IKE SA Initiator's SPI: "fs", then...
	"\x00\x00\x00\x00\x00\x00" + // ...the cookie
	"\x00\x00\x00\x00\x00\x00\x00\x00" + // IKE SA Responder's SPI: 0
	"\x21" + // Next Payload: SA (33)
	"\x20" + // Version: major 2, minor 0
	"\x22" + // Exchange Type: IKE_SA_INIT (34)
	"\x08" + // Flags: Initiator
	"\x00\x00\x00\x00" + // Message ID 0
	"\x00\x00\x00\xb8" + // Length 184
	// SA payload (section 3.3)
	"\x22\x00\x00\x30" + // Next Payload KE (34), not critical, length 48
	"\x00\x00\x00\x2c" + // Proposal: last, length 44
	"\x01\x01\x00\x04" + // Proposal Num 1, Protocol ID IKE (1), SPI Size 0, 4 transforms
	"\x03\x00\x00\x0c" + // Transform: more follow, length 12
	"\x01\x00\x00\x0c" + // Type ENCR (1), ID ENCR_AES_CBC (12)
	"\x80\x0e\x00\x80" + // Attribute Key Length (14, TV format): 128
	"\x03\x00\x00\x08" + // Transform: more follow, length 8
	"\x02\x00\x00\x05" + // Type PRF (2), ID PRF_HMAC_SHA2_256 (5)
	"\x03\x00\x00\x08" + // Transform: more follow, length 8
	"\x03\x00\x00\x0c" + // Type INTEG (3), ID AUTH_HMAC_SHA2_256_128 (12)
	"\x00\x00\x00\x08" + // Transform: last, length 8
	"\x04\x00\x00\x13" + // Type D-H (4), ID 256-bit random ECP group (19)
	// Key Exchange payload (section 3.4)
	"\x28\x00\x00\x48" + // Next Payload Nonce (40), not critical, length 72
	"\x00\x13\x00\x00" + // Diffie-Hellman Group Num 19, RESERVED
	"\x6b\x17\xd1\xf2\xe1\x2c\x42\x47\xf8\xbc\xe6\xe5\x63\xa4\x40\xf2" + // x
	"\x77\x03\x7d\x81\x2d\xeb\x33\xa0\xf4\xa1\x39\x45\xd8\x98\xc2\x96" +
	"\x4f\xe3\x42\xe2\xfe\x1a\x7f\x9b\x8e\xe7\xeb\x4a\x7c\x0f\x9e\x16" + // y
	"\x2b\xce\x33\x57\x6b\x31\x5e\xce\xcb\xb6\x40\x68\x37\xbf\x51\xf5" +
	// Nonce payload (section 3.9)
	"\x00\x00\x00\x24" + // Next Payload none, not critical, length 36
	"fastscan IKEv2 probe nonce, 32 B" // Nonce Data, 32 bytes

// ikeSPIPrefix is the fixed start of the initiator SPI.
const ikeSPIPrefix = "fs"

func ikeProbe() Probe {
	return Probe{Name: "ike", Port: 500, Payload: ikeSAInit, CookieOffset: 2, CookieLen: 6}
}

// ssdpMSearch is an SSDP search request (UPnP Device Architecture 2.0
// section 1.3.2) for all devices and services. SSDP replies echo nothing of
// the request.
const ssdpMSearch = "" +
	"M-SEARCH * HTTP/1.1\r\n" +
	"HOST: 239.255.255.250:1900\r\n" +
	"MAN: \"ssdp:discover\"\r\n" +
	"MX: 1\r\n" +
	"ST: ssdp:all\r\n" +
	"\r\n"

func ssdpProbe() Probe {
	return Probe{Name: "ssdp", Port: 1900, Payload: ssdpMSearch}
}

// sipOptions is a SIP OPTIONS request (RFC 3261 sections 8.1.1 and 11) with
// every header field a request must carry. Responses copy the Via header
// field (section 8.2.6.2), so its branch parameter carries the cookie, as
// eight hexadecimal digits after the RFC 3261 magic cookie "z9hG4bK". The
// rport parameter (RFC 3581) asks for the response to go to the source port
// of the request; the host names are in the .invalid domain (RFC 6761), as
// the probe's own address is not known to the template.
const sipOptions = sipHead + "00000000" + sipTail

// sipHead is sipOptions up to the cookie, sipTail the rest after it.
const (
	sipHead = "" +
		"OPTIONS sip:fastscan.invalid SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP fastscan.invalid;branch=" + sipBranchPrefix
	sipTail = ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:fastscan@fastscan.invalid>;tag=fastscan\r\n" +
		"To: <sip:fastscan.invalid>\r\n" +
		"Call-ID: fastscan-udp-probe@fastscan.invalid\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Accept: application/sdp\r\n" +
		"Content-Length: 0\r\n" +
		"\r\n"
)

// sipBranchPrefix is the start of the branch parameter's value, the RFC 3261
// magic cookie; sipCookieLen hexadecimal digits follow.
const (
	sipBranchPrefix = "z9hG4bK"
	sipCookieLen    = 8
)

func sipProbe() Probe {
	return Probe{Name: "sip", Port: 5060, Payload: sipOptions, CookieOffset: len(sipHead), CookieLen: sipCookieLen, CookieHex: true}
}

// mdnsQuery is a Multicast DNS query for the DNS-SD service type enumeration
// name (RFC 6763 section 9) with the unicast-response bit set (RFC 6762
// section 5.4). Sent from a port other than 5353 it is a legacy unicast
// query, whose response must repeat the query ID (RFC 6762 section 6.7).
const mdnsQuery = "" +
	"\x00\x00" + // ID: the cookie
	"\x00\x00" + // standard query
	"\x00\x01" + // QDCOUNT 1
	"\x00\x00" + // ANCOUNT 0
	"\x00\x00" + // NSCOUNT 0
	"\x00\x00" + // ARCOUNT 0
	"\x09_services\x07_dns-sd\x04_udp\x05local\x00" + // QNAME
	"\x00\x0c" + // QTYPE PTR (12)
	"\x80\x01" // QU bit, QCLASS IN (1)

func mdnsProbe() Probe {
	return Probe{Name: "mdns", Port: 5353, Payload: mdnsQuery, CookieOffset: 0, CookieLen: 2}
}

// coapGet is a confirmable CoAP GET (RFC 7252 section 3) of
// /.well-known/core, the resource directory of RFC 6690. A piggybacked
// response in the ACK, or a separate response, carries the request's token
// (RFC 7252 section 5.3.2), which holds the cookie. The Message ID is fixed.
const coapGet = "" +
	"\x44" + // Ver 1, T 0 (CON), TKL 4
	"\x01" + // Code 0.01 GET
	"fs" + // Message ID
	"\x00\x00\x00\x00" + // Token: the cookie
	"\xbb.well-known" + // Option delta 11 (Uri-Path), length 11
	"\x04core" // Option delta 0 (Uri-Path), length 4

// coapMessageID is coapGet's Message ID.
const coapMessageID = "fs"

func coapProbe() Probe {
	return Probe{Name: "coap", Port: 5683, Payload: coapGet, CookieOffset: 4, CookieLen: 4}
}

// memcachedStats is the memcached "stats" command over UDP: the 8-byte frame
// header of memcached's protocol.txt ("UDP protocol") and the text command.
// Every datagram of the reply starts with the same request ID.
const memcachedStats = "" +
	"\x00\x00" + // Request ID: the cookie
	"\x00\x00" + // Sequence number 0
	"\x00\x01" + // Total number of datagrams 1
	"\x00\x00" + // Reserved
	"stats\r\n"

func memcachedProbe() Probe {
	return Probe{Name: "memcached", Port: 11211, Payload: memcachedStats, CookieOffset: 0, CookieLen: 2}
}
