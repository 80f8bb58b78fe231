"""Coordinate systems used by Chinese map services, and distances.

WGS-84 is the system inside griddispatch (GPS and Telegram use it). Chinese
web maps publish GCJ-02, an obfuscated offset of WGS-84 defined by the
national surveying bureau; Baidu adds its own BD-09 offset on top of GCJ-02.
The forward GCJ-02 formula below is the widely published one; its inverse
has no closed form, so it is found by fixed-point iteration.
"""

import math
from typing import Literal

CoordinateSystem = Literal["wgs84", "gcj02", "bd09"]

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02, in metres
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_EARTH_RADIUS_M = 6371008.8
_INVERSE_TOLERANCE_DEG = 1e-9
_INVERSE_MAX_ROUNDS = 30


def _transform_lat(x: float, y: float) -> float:
    result = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    result += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    result += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    result += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3
    return result


def _transform_lon(x: float, y: float) -> float:
    result = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    result += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    result += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    result += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    return result


def wgs84_to_gcj02(longitude: float, latitude: float) -> tuple[float, float]:
    """Convert a WGS-84 point to GCJ-02 (longitude, latitude in degrees)."""
    d_lat = _transform_lat(longitude - 105.0, latitude - 35.0)
    d_lon = _transform_lon(longitude - 105.0, latitude - 35.0)
    rad_lat = latitude / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return longitude + d_lon, latitude + d_lat


def gcj02_to_wgs84(longitude: float, latitude: float) -> tuple[float, float]:
    """Convert a GCJ-02 point to WGS-84 by iterating the forward formula (error under 1 mm)."""
    guess_lon, guess_lat = longitude, latitude
    for _ in range(_INVERSE_MAX_ROUNDS):
        forward_lon, forward_lat = wgs84_to_gcj02(guess_lon, guess_lat)
        error_lon, error_lat = forward_lon - longitude, forward_lat - latitude
        if abs(error_lon) < _INVERSE_TOLERANCE_DEG and abs(error_lat) < _INVERSE_TOLERANCE_DEG:
            break
        guess_lon -= error_lon
        guess_lat -= error_lat
    return guess_lon, guess_lat


def bd09_to_gcj02(longitude: float, latitude: float) -> tuple[float, float]:
    """Convert a Baidu BD-09 point to GCJ-02."""
    x = longitude - 0.0065
    y = latitude - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def to_wgs84(longitude: float, latitude: float, system: CoordinateSystem) -> tuple[float, float]:
    """Convert a point given in `system` to WGS-84."""
    if system == "wgs84":
        return longitude, latitude
    if system == "gcj02":
        return gcj02_to_wgs84(longitude, latitude)
    return gcj02_to_wgs84(*bd09_to_gcj02(longitude, latitude))


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance between two WGS-84 points, in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(h))
