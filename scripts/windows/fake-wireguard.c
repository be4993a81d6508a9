/* A stand-in for wireguard.dll (WireGuardNT's API) holding one adapter, "pwtest", in
 * memory, so that Punchwire's wireguard-nt backend can be run under Wine through the
 * real DLL boundary: open by name, read the configuration, write an endpoint. Its
 * WireGuardSetConfiguration refuses anything but an "update only" endpoint change (no
 * interface flags, no allowed IPs, keepalive or keys), which is all Punchwire may write.
 * Built and used only by scripts/check-platforms; never shipped. Layout: wireguard.h. */
#include <windows.h>
#include <string.h>

#define IFACE_SIZE 80
#define PEER_SIZE 136
#define AIP_SIZE 24
#define PEERS 2
#define CONFIG_SIZE (IFACE_SIZE + PEERS * (PEER_SIZE + AIP_SIZE))

#define PEER_HAS_PUBLIC_KEY 1
#define PEER_HAS_PERSISTENT_KEEPALIVE 4
#define PEER_HAS_ENDPOINT 8
#define PEER_UPDATE 128

static BYTE config[CONFIG_SIZE];
static int ready;
static const WCHAR NAME[] = L"pwtest";

static BYTE *peer_at(int i) { return config + IFACE_SIZE + i * (PEER_SIZE + AIP_SIZE); }

static void put16(BYTE *p, WORD v) { memcpy(p, &v, 2); }
static void put32(BYTE *p, DWORD v) { memcpy(p, &v, 4); }
static void put64(BYTE *p, ULONGLONG v) { memcpy(p, &v, 8); }

static void setup(void)
{
    if (ready)
        return;
    ready = 1;
    memset(config, 0, sizeof config);
    put32(config, 1 | 2 | 4); /* has public key, private key, listen port */
    put16(config + 4, 51820);
    memset(config + 6, 0xAA, 32);
    memset(config + 38, 7, 32);
    put32(config + 72, PEERS);
    for (int i = 0; i < PEERS; i++) {
        BYTE *p = peer_at(i), *aip = p + PEER_SIZE;
        DWORD flags = PEER_HAS_PUBLIC_KEY | PEER_HAS_PERSISTENT_KEEPALIVE;
        memset(p + 8, i + 1, 32);
        put16(p + 72, 25);
        if (i == 0) { /* peer 1 has an endpoint, 192.0.2.1:51820, and traffic */
            flags |= PEER_HAS_ENDPOINT;
            put16(p + 76, 2);
            p[78] = 51820 >> 8; p[79] = 51820 & 0xff;
            p[80] = 192; p[81] = 0; p[82] = 2; p[83] = 1;
            put64(p + 104, 100);
            put64(p + 112, 2048);
            put64(p + 120, 116444736000000000ULL + 1795000000ULL * 10000000ULL);
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
    return (void *)config;
}

__declspec(dllexport) void WINAPI WireGuardCloseAdapter(void *adapter) { (void)adapter; }

__declspec(dllexport) BOOL WINAPI WireGuardGetConfiguration(void *adapter, void *out, DWORD *bytes)
{
    (void)adapter;
    if (*bytes < CONFIG_SIZE || !out) {
        *bytes = CONFIG_SIZE;
        SetLastError(ERROR_MORE_DATA);
        return FALSE;
    }
    memcpy(out, config, CONFIG_SIZE);
    *bytes = CONFIG_SIZE;
    return TRUE;
}

__declspec(dllexport) BOOL WINAPI WireGuardSetConfiguration(void *adapter, const void *in, DWORD bytes)
{
    const BYTE *c = in;
    DWORD iflags, count;
    (void)adapter;
    if (bytes < IFACE_SIZE)
        goto invalid;
    memcpy(&iflags, c, 4);
    memcpy(&count, c + 72, 4);
    if (iflags != 0 || bytes != IFACE_SIZE + count * PEER_SIZE)
        goto invalid; /* would touch the interface, or carries allowed IPs */
    for (DWORD n = 0; n < count; n++) {
        const BYTE *u = c + IFACE_SIZE + n * PEER_SIZE;
        DWORD flags, aips;
        memcpy(&flags, u, 4);
        memcpy(&aips, u + 128, 4);
        if (flags != (PEER_HAS_PUBLIC_KEY | PEER_HAS_ENDPOINT | PEER_UPDATE) || aips != 0)
            goto invalid;
        for (int i = 0; i < PEERS; i++) {
            BYTE *p = peer_at(i);
            DWORD pflags;
            if (memcmp(p + 8, u + 8, 32) != 0)
                continue;
            memcpy(p + 76, u + 76, 28);
            memcpy(&pflags, p, 4);
            put32(p, pflags | PEER_HAS_ENDPOINT);
        }
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
