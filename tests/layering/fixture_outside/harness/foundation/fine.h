#pragma once
// Fixture: a file that belongs to a layer.
