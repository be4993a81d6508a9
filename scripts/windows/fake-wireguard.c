/* A stand-in for wireguard.dll (WireGuardNT's API) holding one adapter, "pwtest", in
 * memory, so that Punchwire's wireguard-nt backend can be run under Wine through the
 * real DLL boundary: open by name, read the configuration, write an endpoint or make a
 * peer anew, move allowed IPs between peers. Its WireGuardSetConfiguration applies
 * peers as the driver's ioctl.c does (remove, update only, create, preshared key,
 * endpoint, replace allowed IPs, allowed IPs, keepalive) and refuses any interface
 * flag, which Punchwire must never write.
 * Built and used only by scripts/check-platforms; never shipped. Layout: wireguard.h. */
#include <windows.h>
#include <string.h>

#define IFACE_SIZE 80
#define PEER_SIZE 136
#define AIP_SIZE 24
#define MAX_PEERS 4
#define MAX_AIPS 4
#define PEER_SLOT (PEER_SIZE + MAX_AIPS * AIP_SIZE)

#define PEER_HAS_PUBLIC_KEY 1
#define PEER_HAS_PRESHARED_KEY 2
#define PEER_HAS_PERSISTENT_KEEPALIVE 4
#define PEER_HAS_ENDPOINT 8
#define PEER_REPLACE_ALLOWED_IPS 32
#define PEER_REMOVE 64
#define PEER_UPDATE 128

/* The interface, then room for MAX_PEERS peers, each with room for MAX_AIPS allowed
 * IPs; GetConfiguration packs them as the driver does. */
static BYTE iface[IFACE_SIZE];
static BYTE slots[MAX_PEERS * PEER_SLOT];
static int peers, ready;
static const WCHAR NAME[] = L"pwtest";

static BYTE *peer_at(int i) { return slots + i * PEER_SLOT; }

static void put16(BYTE *p, WORD v) { memcpy(p, &v, 2); }
static void put32(BYTE *p, DWORD v) { memcpy(p, &v, 4); }
static void put64(BYTE *p, ULONGLONG v) { memcpy(p, &v, 8); }
static void or32(BYTE *p, DWORD v) { DWORD o; memcpy(&o, p, 4); put32(p, o | v); }

/* Two peers: peer 1 (key 01..) has an endpoint, 192.0.2.1:51820, a handshake and
 * traffic; peer 2 (key 02..) has none of these but a preshared key (0x55..). Both have
 * a keepalive of 25 s and one allowed IP, 10.99.0.(1 + n)/32. */
static void setup(void)
{
    if (ready)
        return;
    ready = 1;
    put32(iface, 1 | 2 | 4); /* has public key, private key, listen port */
    put16(iface + 4, 51820);
    memset(iface + 6, 0xAA, 32);
    memset(iface + 38, 7, 32);
    peers = 2;
    for (int i = 0; i < peers; i++) {
        BYTE *p = peer_at(i), *aip = p + PEER_SIZE;
        DWORD flags = PEER_HAS_PUBLIC_KEY | PEER_HAS_PERSISTENT_KEEPALIVE;
        memset(p + 8, i + 1, 32);
        put16(p + 72, 25);
        if (i == 0) {
            flags |= PEER_HAS_ENDPOINT;
            put16(p + 76, 2);
            p[78] = 51820 >> 8; p[79] = 51820 & 0xff;
            p[80] = 192; p[81] = 0; p[82] = 2; p[83] = 1;
            put64(p + 104, 100);
            put64(p + 112, 2048);
            put64(p + 120, 116444736000000000ULL + 1795000000ULL * 10000000ULL);
        } else {
            flags |= PEER_HAS_PRESHARED_KEY;
            memset(p + 40, 0x55, 32);
        }
        put32(p, flags);
        put32(p + 128, 1);
        aip[0] = 10; aip[1] = 99; aip[2] = 0; aip[3] = (BYTE)(2 + i);
        put16(aip + 16, 2);
        aip[18] = 32;
    }
}

__declspec(dllexport) void *WINAPI WireGuardOpenAdapter(LPCWSTR name)
{
    setup();
    if (lstrcmpW(name, NAME) != 0) {
        SetLastError(ERROR_FILE_NOT_FOUND);
        return NULL;
    }
    return (void *)iface;
}

__declspec(dllexport) void WINAPI WireGuardCloseAdapter(void *adapter) { (void)adapter; }

__declspec(dllexport) BOOL WINAPI WireGuardGetConfiguration(void *adapter, void *out, DWORD *bytes)
{
    DWORD size = IFACE_SIZE;
    BYTE *o = out;
    (void)adapter;
    for (int i = 0; i < peers; i++) {
        DWORD aips;
        memcpy(&aips, peer_at(i) + 128, 4);
        size += PEER_SIZE + aips * AIP_SIZE;
    }
    if (*bytes < size || !out) {
        *bytes = size;
        SetLastError(ERROR_MORE_DATA);
        return FALSE;
    }
    memcpy(o, iface, IFACE_SIZE);
    put32(o + 72, (DWORD)peers);
    o += IFACE_SIZE;
    for (int i = 0; i < peers; i++) {
        DWORD aips;
        memcpy(&aips, peer_at(i) + 128, 4);
        memcpy(o, peer_at(i), PEER_SIZE + aips * AIP_SIZE);
        o += PEER_SIZE + aips * AIP_SIZE;
    }
    *bytes = size;
    return TRUE;
}

/* The driver's routing table holds each network for one peer: inserting one takes it
 * from whichever peer held it (allowedips_insert), the inserting peer included, so it
 * is listed once. An entry is its address, family and prefix length (19 bytes). */
static void take_from_every_peer(const BYTE *aip)
{
    for (int j = 0; j < peers; j++) {
        BYTE *q = peer_at(j);
        DWORD have;
        memcpy(&have, q + 128, 4);
        for (DWORD k = 0; k < have;) {
            BYTE *e = q + PEER_SIZE + k * AIP_SIZE;
            if (memcmp(e, aip, 19) == 0) {
                memmove(e, e + AIP_SIZE, (size_t)(have - k - 1) * AIP_SIZE);
                have--;
            } else {
                k++;
            }
        }
        put32(q + 128, have);
    }
}

/* Applies a configuration as the driver's SetInterface/SetPeer do, peer after peer:
 * a missing peer is skipped when the entry removes or only updates, else created;
 * removal shifts the peers after it down. Any interface flag (replacing peers, keys,
 * the port) is refused: Punchwire must never write one. */
__declspec(dllexport) BOOL WINAPI WireGuardSetConfiguration(void *adapter, const void *in, DWORD bytes)
{
    const BYTE *c = in, *end = c + bytes;
    DWORD iflags, count;
    (void)adapter;
    setup();
    if (bytes < IFACE_SIZE)
        goto invalid;
    memcpy(&iflags, c, 4);
    memcpy(&count, c + 72, 4);
    if (iflags != 0)
        goto invalid;
    c += IFACE_SIZE;
    for (DWORD n = 0; n < count; n++) {
        DWORD flags, aips;
        int i;
        BYTE *p;
        if (end - c < PEER_SIZE)
            goto invalid;
        memcpy(&flags, c, 4);
        memcpy(&aips, c + 128, 4);
        if (!(flags & PEER_HAS_PUBLIC_KEY) || aips > MAX_AIPS || end - c < PEER_SIZE + aips * AIP_SIZE)
            goto invalid;
        for (i = 0; i < peers; i++)
            if (memcmp(peer_at(i) + 8, c + 8, 32) == 0)
                break;
        if (i == peers) {
            if (flags & (PEER_REMOVE | PEER_UPDATE))
                goto next;
            if (peers == MAX_PEERS)
                goto invalid;
            p = peer_at(peers++);
            memset(p, 0, PEER_SLOT);
            memcpy(p + 8, c + 8, 32);
            put32(p, PEER_HAS_PUBLIC_KEY);
        }
        p = peer_at(i);
        if (flags & PEER_REMOVE) {
            memmove(p, p + PEER_SLOT, (size_t)(peers - i - 1) * PEER_SLOT);
            peers--;
            goto next;
        }
        if (flags & PEER_HAS_PRESHARED_KEY) {
            memcpy(p + 40, c + 40, 32);
            or32(p, PEER_HAS_PRESHARED_KEY);
        }
        if (flags & PEER_HAS_ENDPOINT) {
            memcpy(p + 76, c + 76, 28);
            or32(p, PEER_HAS_ENDPOINT);
        }
        if (flags & PEER_HAS_PERSISTENT_KEEPALIVE) {
            memcpy(p + 72, c + 72, 2);
            or32(p, PEER_HAS_PERSISTENT_KEEPALIVE);
        }
        if (flags & PEER_REPLACE_ALLOWED_IPS)
            put32(p + 128, 0);
        for (DWORD a = 0; a < aips; a++) {
            DWORD have;
            take_from_every_peer(c + PEER_SIZE + a * AIP_SIZE);
            memcpy(&have, p + 128, 4);
            if (have == MAX_AIPS)
                goto invalid;
            memcpy(p + PEER_SIZE + have * AIP_SIZE, c + PEER_SIZE + a * AIP_SIZE, AIP_SIZE);
            put32(p + 128, have + 1);
        }
    next:
        c += PEER_SIZE + aips * AIP_SIZE;
    }
    return TRUE;
invalid:
    SetLastError(ERROR_INVALID_PARAMETER);
    return FALSE;
}

/* The rest of the API, present because the wireguard-nt crate resolves every symbol. */
__declspec(dllexport) void *WINAPI WireGuardCreateAdapter(LPCWSTR a, LPCWSTR b, const GUID *g)
{ (void)a; (void)b; (void)g; SetLastError(ERROR_ACCESS_DENIED); return NULL; }
__declspec(dllexport) void WINAPI WireGuardGetAdapterLUID(void *a, void *luid) { (void)a; (void)luid; }
__declspec(dllexport) DWORD WINAPI WireGuardGetRunningDriverVersion(void) { return 0; }
__declspec(dllexport) BOOL WINAPI WireGuardDeleteDriver(void) { return FALSE; }
__declspec(dllexport) void WINAPI WireGuardSetLogger(void *cb) { (void)cb; }
__declspec(dllexport) BOOL WINAPI WireGuardSetAdapterLogging(void *a, int s) { (void)a; (void)s; return TRUE; }
__declspec(dllexport) BOOL WINAPI WireGuardGetAdapterState(void *a, int *s) { (void)a; *s = 1; return TRUE; }
__declspec(dllexport) BOOL WINAPI WireGuardSetAdapterState(void *a, int s) { (void)a; (void)s; return FALSE; }
