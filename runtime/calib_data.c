#include "calib_data.h"
